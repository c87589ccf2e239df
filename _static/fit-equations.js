// Display equations wider than their column (phone screens) are typeset at a smaller size,
// down to 60 per cent; wider than that they scroll sideways (custom.css).  A shrunk equation
// carries data-fit-scale, so the render test can require that none is shrunk at 1024 px.
(function () {
  var MIN_SCALE = 0.6;
  function fit() {
    document.querySelectorAll('mjx-container[display="true"]').forEach(function (c) {
      c.style.fontSize = "";
      c.removeAttribute("data-fit-scale");
      if (c.clientWidth > 0 && c.scrollWidth > c.clientWidth + 1) {
        var scale = Math.max(MIN_SCALE, c.clientWidth / c.scrollWidth);
        c.style.fontSize = (100 * scale).toFixed(1) + "%";
        c.setAttribute("data-fit-scale", scale.toFixed(2));
      }
    });
  }
  window.addEventListener("load", function () {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(fit);
    }
    var pending = null;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(fit, 150);
    });
  });
})();
