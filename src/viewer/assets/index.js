// refresh-check trace index: filters the rows by property, verdict, expectation and text.
// Without it every row shows.
(function () {
  "use strict";
  var ids = ["f-property", "f-verdict", "f-expectation", "f-text"];
  var fields = ids.map(function (id) { return document.getElementById(id); });
  var count = document.getElementById("f-count");

  function apply() {
    var want = { property: fields[0].value, verdict: fields[1].value, expectation: fields[2].value };
    var q = fields[3].value.trim().toLowerCase(), shown = 0;
    var groups = document.querySelectorAll("tbody.model");
    for (var g = 0; g < groups.length; g++) {
      var model = groups[g].getAttribute("data-model").toLowerCase(), any = false;
      var rows = groups[g].querySelectorAll("tr.entry");
      for (var r = 0; r < rows.length; r++) {
        var row = rows[r], ok = true;
        for (var key in want) {
          if (want[key] && row.getAttribute("data-" + key) !== want[key]) ok = false;
        }
        if (ok && q) ok = (model + " " + row.textContent.toLowerCase()).indexOf(q) >= 0;
        row.hidden = !ok;
        if (ok) { any = true; shown++; }
      }
      groups[g].hidden = !any;
    }
    count.textContent = shown + " shown";
  }

  fields.forEach(function (f) {
    f.addEventListener("input", apply);
    f.addEventListener("change", apply);
  });
  apply();
})();
