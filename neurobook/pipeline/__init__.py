"""The book machinery: run a chapter, build the book, sweep parameters, generate pages, the CLI.

This layer sits on top: it imports the science library (``neurobook.data``, ``models``, ``train`` ...) and runs the
chapters; nothing in the library and no chapter imports it (tests/test_layers.py checks). Editing it changes no
chapter's fingerprint, so it never makes a chapter execute again.

    run.py        one chapter: parameters, fingerprint, lock, execution (papermill)
    build.py      the whole book: every chapter, the generated pages, the web assets, jupyter-book
    chapters.py   the chapter registry: notebook, data, claims, syllabus facts
    params.py     reading and checking a chapter's parameters
    sweep.py      parameter grids on Dask; sweep_page.py its book page
    scorecard.py, syllabus.py, student.py    generated pages and student notebooks
    sphinxext.py, webassets.py               Sphinx glue and the widget / MathJax assets
    cli.py        the ``neurobook`` command
"""
