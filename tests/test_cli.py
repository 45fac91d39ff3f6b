"""The command line: bad parameters fail before execution with the list of valid ones."""

from __future__ import annotations

import pytest

from neurobook.pipeline.chapters import written_chapters
from neurobook.pipeline.cli import main
from neurobook.pipeline.params import ParameterError, _accepts, notebook_parameters, parse_value, read_chapter, validate

PARAMS = {"profile": {"type": "str", "default": '"full"', "help": ""},
          "epochs": {"type": "int", "default": "0", "help": ""},
          "lr": {"type": "float", "default": "0.1", "help": ""},
          "data_dir": {"type": "Optional[str]", "default": "None", "help": ""}}


def test_unknown_parameter_lists_valid_ones(capsys):
    assert main(["run", "ch01", "-p", "epoch", "3"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter(s) 'epoch'" in err
    for name in ("profile", "device", "seed", "data_dir", "epochs", "n_mei"):
        assert f"  {name}:" in err


def test_wrong_type_is_rejected_before_running(capsys):
    assert main(["run", "ch01", "-p", "epochs", "many"]) == 2
    assert "parameter 'epochs' must be int, got 'many'" in capsys.readouterr().err


def test_unknown_chapter(capsys):
    assert main(["run", "ch09"]) == 2
    assert "unknown chapter 'ch09'; chapters: ch01_v1_encoding" in capsys.readouterr().err


def test_params_lists_the_chapter_parameters(capsys):
    assert main(["params", "1"]) == 0
    assert "readout: str" in capsys.readouterr().out


@pytest.mark.parametrize("text,value", [("3", 3), ("0.5", 0.5), ("true", True), ("cuda", "cuda"),
                                        ("null", None), ("[1, 2]", [1, 2])])
def test_parse_value(text, value):
    assert parse_value(text) == value


def test_type_rules():
    assert _accepts("float", 3) and not _accepts("int", 3.5) and not _accepts("int", True)
    assert _accepts("Optional[str]", None) and _accepts("Optional[str]", "/data") and not _accepts("str", None)
    validate(PARAMS, {"epochs": 4, "lr": 1, "data_dir": None}, "demo")
    with pytest.raises(ParameterError, match="must be float"):
        validate(PARAMS, {"lr": "fast"}, "demo")


@pytest.mark.parametrize("chapter", written_chapters(), ids=lambda c: c.slug)
def test_every_assignment_of_the_parameters_cell_is_a_parameter(chapter):
    """papermill silently drops a parameter line it cannot parse; such a parameter could not be set with -p."""
    import ast

    cell = next(c for c in read_chapter(chapter.source).cells if "parameters" in c.metadata.get("tags", []))
    assigned = {node.target.id for node in ast.parse(cell.source).body if isinstance(node, ast.AnnAssign)}
    assigned |= {t.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign) for t in node.targets}
    assert assigned == set(notebook_parameters(chapter.source)), "a parameter line papermill could not parse"


def test_scorecard_claims_have_no_pipe_that_would_split_the_table():
    for chapter in written_chapters():
        for claim in chapter.claims:
            assert "|" not in claim.label + claim.paper, f"{chapter.slug}: {claim.label!r} breaks the scorecard table"
