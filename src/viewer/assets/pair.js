// refresh-check side-by-side page: j / k (or n / p) move to the next or previous row that
// differs; the row is the URL fragment #row-N.
(function () {
  "use strict";
  var rows = document.querySelectorAll("table.pair tr.row");
  var current = -1;

  function select(k) {
    if (k < 0 || k >= rows.length) return;
    if (current >= 0) rows[current].classList.remove("current");
    current = k;
    rows[k].classList.add("current");
    rows[k].scrollIntoView({ block: "nearest" });
    window.location.replace("#row-" + (k + 1));
  }

  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    var dir = { j: 1, n: 1, k: -1, p: -1 }[e.key];
    if (!dir) return;
    for (var k = current + dir; k >= 0 && k < rows.length; k += dir) {
      if (rows[k].classList.contains("differs") || rows[k].classList.contains("state-differs")) {
        select(k);
        break;
      }
    }
    e.preventDefault();
  });

  var m = /^#row-(\d+)$/.exec(window.location.hash);
  if (m) select(parseInt(m[1], 10) - 1);
})();
