// genflow web: sortable tables (click a header) and a search box that filters table rows.
// No framework and no network: served by genflow itself.
(function () {
  "use strict";

  function cellValue(row, index) {
    const cell = row.cells[index];
    if (!cell) return "";
    return cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
  }

  function compare(a, b) {
    const x = parseFloat(a), y = parseFloat(b);
    const numeric = a !== "" && b !== "" && !isNaN(x) && !isNaN(y) && isFinite(a) && isFinite(b);
    if (numeric) return x - y;
    if (a === "" || a === "–") return 1;  // empty cells last
    if (b === "" || b === "–") return -1;
    return a.localeCompare(b);
  }

  function makeSortable(table) {
    const headers = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(headers, function (th, index) {
      th.classList.add("sort-header");
      th.title = "sort by " + th.textContent.trim();
      th.addEventListener("click", function () {
        const body = table.tBodies[0];
        const ascending = th.dataset.order !== "asc";
        Array.prototype.forEach.call(headers, function (h) { delete h.dataset.order; });
        th.dataset.order = ascending ? "asc" : "desc";
        const rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) {
          const c = compare(cellValue(r1, index), cellValue(r2, index));
          return ascending ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  }

  function makeFilter(input) {
    const table = document.getElementById(input.dataset.filterTable);
    if (!table) return;
    input.addEventListener("input", function () {
      const needle = input.value.trim().toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        row.hidden = needle !== "" && row.textContent.toLowerCase().indexOf(needle) < 0;
      });
    });
  }

  document.querySelectorAll("table.sortable").forEach(makeSortable);
  document.querySelectorAll("input[data-filter-table]").forEach(makeFilter);
})();
