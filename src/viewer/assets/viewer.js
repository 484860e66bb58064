// refresh-check trace viewer: moves the highlighted step, marks what is in flight and each
// property's status at it, filters by actor and searches the steps. The page is complete
// without it (it then shows the initial state).
// Keys: ArrowRight/ArrowDown/j next, ArrowLeft/ArrowUp/k previous, Home/End first/last (steps
// hidden by the actor filter or the search are skipped), "/" the search, Escape leaves it.
// The selected step is the URL fragment #step-N, so every step can be linked to.
(function () {
  "use strict";
  var last = parseInt(document.body.getAttribute("data-steps"), 10) || 0;
  var current = -1;
  var chart = document.getElementById("chart");
  var list = document.getElementById("steps");
  var search = document.getElementById("search");
  var count = document.getElementById("search-count");
  var items = [], rows = [], states = [];
  each("#steps li.step", function (li) { items[+li.getAttribute("data-step")] = li; });
  each("#chart g.step", function (g) {
    var first = +g.getAttribute("data-step"), end = +g.getAttribute("data-last");
    for (var k = first; k <= end; k++) rows[k] = g;
  });
  each(".state", function (s) { states[+s.getAttribute("data-step")] = s; });
  var arrows = document.querySelectorAll("#chart .arrow[data-sent]");
  var props = document.querySelectorAll("#props tr.prop");
  var explainStep = document.getElementById("explain-step");

  function each(selector, f) {
    var found = document.querySelectorAll(selector);
    for (var k = 0; k < found.length; k++) f(found[k]);
  }

  function fromHash() {
    var m = /^#step-(\d+)$/.exec(window.location.hash);
    return m ? Math.min(parseInt(m[1], 10), last) : 0;
  }

  function visible(i) {
    var li = items[i];
    return i === 0 || (li && !li.classList.contains("filtered") && !li.classList.contains("unmatched"));
  }

  // Scrolls `box` (and only it) so that `el` is inside it, with a margin.
  function reveal(box, el) {
    if (!box || !el) return;
    var b = box.getBoundingClientRect(), r = el.getBoundingClientRect(), m = 12;
    if (r.top < b.top + m) box.scrollTop += r.top - b.top - m;
    else if (r.bottom > b.bottom - m) box.scrollTop += Math.min(r.bottom - b.bottom + m, r.top - b.top - m);
  }

  function statusWord(kind, shows) {
    if (kind === "always") return shows ? "\u2717 violated" : "\u2713 holds";
    return shows ? "\u2713 reached" : "\u00b7 not yet";
  }

  function select(i) {
    if (current < 0) {
      for (var s = 0; s < states.length; s++) if (states[s]) states[s].hidden = s !== i;
    } else {
      if (items[current]) items[current].classList.remove("current");
      if (rows[current]) rows[current].classList.remove("current");
      if (states[current]) states[current].hidden = true;
    }
    current = i;
    if (items[i]) items[i].classList.add("current");
    if (rows[i]) rows[i].classList.add("current");
    if (states[i]) states[i].hidden = false;
    for (var a = 0; a < arrows.length; a++) {
      var sent = +arrows[a].getAttribute("data-sent"), d = arrows[a].getAttribute("data-delivered");
      arrows[a].classList.toggle("in-flight", sent <= i && (d === "none" || i < +d));
    }
    for (var p = 0; p < props.length; p++) {
      var tl = props[p].getAttribute("data-timeline"), shows = tl.charAt(i) === "1", from = i;
      while (from > 0 && tl.charAt(from - 1) === tl.charAt(i)) from--;
      props[p].classList.toggle("shows", shows);
      props[p].querySelector(".status").textContent = statusWord(props[p].getAttribute("data-kind"), shows);
      props[p].querySelector(".since").textContent = from === 0 ? "from the start" : "since step " + from;
    }
    if (explainStep) explainStep.textContent = String(i);
    // The row's background, not the row: a slanted arrow reaches up to its send step.
    reveal(chart, rows[i] && rows[i].querySelector(".row-bg"));
    reveal(list, items[i]);
  }

  function go(i) {
    i = Math.max(0, Math.min(last, i));
    if (i === current) return;
    // replace() keeps one history entry; a fragment change works from file:// too.
    window.location.replace("#step-" + i);
    select(i);
  }

  // The next visible step from `i` in direction `dir`, or `i` if there is none.
  function step(i, dir) {
    for (var k = i + dir; k >= 0 && k <= last; k += dir) if (visible(k)) return k;
    return i;
  }

  // Marks the rows of the chart whose steps are all hidden.
  function markRows(cls) {
    each("#chart g.step", function (g) {
      var first = +g.getAttribute("data-step"), end = +g.getAttribute("data-last"), all = first > 0;
      for (var k = first; k <= end && all; k++) all = items[k] && items[k].classList.contains(cls);
      g.classList.toggle(cls, all);
    });
  }

  // The actor filter: a step that involves an unticked actor is hidden from the list and
  // dimmed in the chart, as is that actor's lifeline.
  function filter() {
    var off = [];
    each(".actor-toggle input", function (box) { if (!box.checked) off.push("|" + box.getAttribute("data-actor") + "|"); });
    for (var k = 1; k <= last; k++) {
      var actors = items[k].getAttribute("data-actors");
      items[k].classList.toggle("filtered", off.some(function (o) { return actors.indexOf(o) >= 0; }));
    }
    markRows("filtered");
    each("#chart [data-actor]", function (el) {
      el.classList.toggle("off", off.indexOf("|" + el.getAttribute("data-actor") + "|") >= 0);
    });
  }

  function find() {
    var q = search.value.trim().toLowerCase(), n = 0;
    for (var k = 1; k <= last; k++) {
      var hit = !q || items[k].textContent.toLowerCase().indexOf(q) >= 0;
      items[k].classList.toggle("unmatched", !hit);
      if (hit && q) n++;
    }
    markRows("unmatched");
    count.textContent = q ? n + " of " + last + " steps match" : "";
  }

  // Enter (Shift+Enter) while a search is active: the next (previous) matching step, wrapping.
  function nextMatch(back) {
    var k = step(current, back ? -1 : 1);
    if (k === current) k = step(back ? last + 1 : 0, back ? -1 : 1);
    go(k);
  }

  each(".actor-toggle input", function (box) { box.addEventListener("change", filter); });
  if (search) {
    search.addEventListener("input", find);
    search.addEventListener("keydown", function (e) {
      if (e.key === "Enter") {
        nextMatch(e.shiftKey);
        // Going to the step's fragment may take the focus: keep it in the search.
        setTimeout(function () { search.focus(); }, 0);
        e.preventDefault();
      } else if (e.key === "Escape") {
        search.value = "";
        find();
        search.blur();
      }
    });
  }

  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    var t = e.target;
    if (/^(SELECT|TEXTAREA)$/.test(t.tagName) || (t.tagName === "INPUT" && t.type !== "checkbox")) return;
    var dir = { ArrowRight: 1, ArrowDown: 1, j: 1, ArrowLeft: -1, ArrowUp: -1, k: -1 }[e.key];
    if (dir) go(step(current, dir));
    else if (e.key === "Home") go(0);
    else if (e.key === "End") go(visible(last) ? last : step(last, -1));
    else if (e.key === "/" && search) search.focus();
    // Enter and Escape act on an active search wherever the focus is (going to a step's
    // fragment may have taken it from the search box).
    else if (e.key === "Enter" && search && search.value.trim()) nextMatch(e.shiftKey);
    else if (e.key === "Escape" && search && search.value) { search.value = ""; find(); }
    else return;
    e.preventDefault();
  });

  each("#chart g.step", function (g) {
    g.addEventListener("click", function (e) {
      e.preventDefault();
      go(+this.getAttribute("data-step"));
    });
  });

  window.addEventListener("hashchange", function () { select(fromHash()); });
  select(fromHash());
})();
