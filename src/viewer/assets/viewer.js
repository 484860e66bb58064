// refresh-check trace viewer: moves the highlighted step. The page is complete without it.
// Keys: ArrowRight/ArrowDown/j next, ArrowLeft/ArrowUp/k previous, Home/End first/last.
// The selected step is the URL fragment #step-N, so every step can be linked to.
(function () {
  "use strict";
  var last = parseInt(document.body.getAttribute("data-steps"), 10) || 0;
  var current = -1;

  function fromHash() {
    var m = /^#step-(\d+)$/.exec(window.location.hash);
    return m ? Math.min(parseInt(m[1], 10), last) : 0;
  }

  function select(i) {
    current = i;
    var marked = document.querySelectorAll("[data-step]");
    for (var k = 0; k < marked.length; k++) {
      var el = marked[k];
      var on = el.getAttribute("data-step") === String(i);
      if (el.classList.contains("state")) {
        el.hidden = !on;
      } else {
        el.classList.toggle("current", on);
      }
    }
    var item = document.getElementById("step-" + i);
    if (item && item.scrollIntoView) item.scrollIntoView({ block: "nearest" });
    var row = document.getElementById("chart-step-" + i);
    if (row && row.scrollIntoView) row.scrollIntoView({ block: "nearest", inline: "nearest" });
  }

  function go(i) {
    i = Math.max(0, Math.min(last, i));
    if (i === current) return;
    // replace() keeps one history entry; a fragment change works from file:// too.
    window.location.replace("#step-" + i);
    select(i);
  }

  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    var next = { ArrowRight: 1, ArrowDown: 1, j: 1, ArrowLeft: -1, ArrowUp: -1, k: -1 }[e.key];
    if (next) go(current + next);
    else if (e.key === "Home") go(0);
    else if (e.key === "End") go(last);
    else return;
    e.preventDefault();
  });

  var rows = document.querySelectorAll("#chart .step");
  for (var r = 0; r < rows.length; r++) {
    rows[r].addEventListener("click", function (e) {
      e.preventDefault();
      go(parseInt(this.getAttribute("data-step"), 10));
    });
  }

  window.addEventListener("hashchange", function () { select(fromHash()); });
  select(fromHash());
})();
