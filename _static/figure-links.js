// A figure of a chapter opens at full size when it is tapped or clicked: on a phone a two- or
// three-panel figure is shown at the column's width (about 350 px) and its text is too small to
// read there.  Each image of a cell's output is wrapped in a link to its own file (the PNG in
// _images/); images that already sit in a link are left alone.
(function () {
  function link() {
    document.querySelectorAll("div.cell_output img").forEach(function (img) {
      if (img.closest("a") || !img.getAttribute("src")) {
        return;
      }
      var a = document.createElement("a");
      a.href = img.getAttribute("src");
      a.className = "twolayer-figure-link";
      a.title = "Open the figure at full size";
      img.parentNode.insertBefore(a, img);
      a.appendChild(img);
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", link);
  } else {
    link();
  }
})();
