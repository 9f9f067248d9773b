// MathJax reads this object when docs/javascripts/mathjax/tex-svg-full.js loads.
// pymdownx.arithmatex (generic mode) wraps math in .arithmatex spans with \( \) and \[ \].
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
};
