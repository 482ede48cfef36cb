(function () {
  "use strict";
  var table = document.getElementById("images-table");
  var controls = document.getElementById("controls");
  if (!table || !controls) { return; }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var filter = document.getElementById("filter");
  var minimum = document.getElementById("min-severity");
  var shown = document.getElementById("shown");
  var searchable = null;

  function apply() {
    var text = filter.value.trim().toLowerCase();
    var worst = Number(minimum.value);
    var count = 0;
    if (text !== "" && searchable === null) {
      searchable = rows.map(function (row) {
        var digest = row.querySelector(".digest");
        return (row.textContent + " " + (digest ? digest.title : "")).toLowerCase();
      });
    }
    rows.forEach(function (row, index) {
      var visible = (text === "" || searchable[index].indexOf(text) !== -1) &&
        Number(row.getAttribute("data-worst")) >= worst;
      if (row.hidden === visible) { row.hidden = !visible; }
      if (visible) { count += 1; }
    });
    shown.textContent = count + " of " + rows.length + " images shown";
  }

  function sortBy(cell, column) {
    var numeric = cell.getAttribute("data-type") === "number";
    var ascending = cell.getAttribute("aria-sort") !== "ascending";
    headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
    cell.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var keyed = rows.map(function (row, index) {
      var text = row.cells[column].textContent;
      return { row: row, index: index, key: numeric ? Number(text) : text };
    });
    keyed.sort(function (a, b) {
      var order = numeric ? a.key - b.key : (a.key < b.key ? -1 : (a.key > b.key ? 1 : 0));
      return (ascending ? order : -order) || a.index - b.index;
    });
    var fragment = document.createDocumentFragment();
    keyed.forEach(function (entry) { fragment.appendChild(entry.row); });
    body.appendChild(fragment);
  }

  headers.forEach(function (cell, column) {
    if (!cell.hasAttribute("data-sort")) { return; }
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = cell.textContent;
    cell.textContent = "";
    cell.appendChild(button);
    button.addEventListener("click", function () { sortBy(cell, column); });
  });
  filter.addEventListener("input", apply);
  minimum.addEventListener("change", apply);
  controls.hidden = false;
  apply();
}());
