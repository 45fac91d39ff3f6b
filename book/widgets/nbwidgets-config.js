// neurobook: make the ipywidgets html-manager load everything from this folder, never from a CDN.
//
// Loaded (by myst-nb's nb_ipywidgets_js, see _config.yml) after require.js and before embed-amd.js,
// only on pages whose notebook carries widget state. It must live in the same folder as embed-amd.js
// and its fonts: it finds that folder from its own URL, so it works on pages at any depth.
//
// Why: embed-amd.js defines the AMD modules @jupyter-widgets/{base,controls,html-manager,...} and
// webpack inside them computes its public path (where the Font Awesome fonts are fetched from) from
// requirejs' `module.uri`. Without a `paths` entry requirejs puts that next to the *page*
// (./@jupyter-widgets/html-manager.js), so the fonts 404. Mapping every bundled id onto
// <this folder>/embed-amd makes the fonts resolve to this folder.
//
// libembed-amd falls back to a CDN (default https://cdn.jsdelivr.net/npm/) for widget modules that
// are not bundled (third-party widget libraries). It reads the prefix from the last <script> with a
// `data-jupyter-widgets-cdn` attribute when it first runs; we set that attribute here to a local,
// non-existent folder, so such a module fails locally (a visible 404) instead of reaching the internet.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !window.requirejs) {
    if (window.console) {
      console.error("neurobook: nbwidgets-config.js must be loaded after require.js, as a plain <script>");
    }
    return;
  }
  var here = script.src.replace(/[?#].*$/, "").replace(/[^/]*$/, "");
  var embed = here + "embed-amd";
  var ids = [
    "@jupyter-widgets/base",
    "@jupyter-widgets/base7",
    "@jupyter-widgets/controls",
    "@jupyter-widgets/controls7",
    "@jupyter-widgets/html-manager",
    "@jupyter-widgets/html-manager/dist/libembed-amd",
    "@jupyter-widgets/html-manager/dist/embed-amd"
  ];
  var paths = {};
  for (var i = 0; i < ids.length; i++) {
    paths[ids[i]] = embed;
  }
  window.requirejs.config({ paths: paths });
  script.setAttribute("data-jupyter-widgets-cdn", here + "no-cdn/");
})();

// The widget controls typeset labels with the MathJax 2 API (`MathJax.Hub.Queue(["Typeset", MathJax.Hub, el])`)
// whenever a global MathJax exists. The book serves MathJax 3 (pages with equations), which has no Hub, so every
// labelled widget would throw. Give whatever object is the global MathJax (the config object first, MathJax 3
// itself once it starts) a non-enumerable Hub that forwards to MathJax 3's typesetPromise.
(function () {
  "use strict";
  function typeset(job) {
    var element = Array.isArray(job) ? job[2] : undefined;
    var mj = window.MathJax;
    if (!mj || !element) {
      return;
    }
    var run = function () {
      if (window.MathJax.typesetPromise) {
        window.MathJax.typesetPromise([element]).catch(function () {});
      }
    };
    if (mj.startup && mj.startup.promise) {
      mj.startup.promise.then(run);
    } else {
      run();
    }
  }
  function addHub(mj) {
    if (mj && typeof mj === "object" && !mj.Hub) {
      Object.defineProperty(mj, "Hub", { value: { Queue: typeset }, enumerable: false, configurable: true });
    }
  }
  var current = window.MathJax;
  addHub(current);
  try {
    Object.defineProperty(window, "MathJax", {
      configurable: true,
      enumerable: true,
      get: function () { return current; },
      set: function (value) { current = value; addHub(value); }
    });
  } catch (e) {
    // a non-configurable global: leave it; only labelled widgets on pages with math are affected
  }
})();
