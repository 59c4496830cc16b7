// genflow web: draw the structure figure (plotly.js from the plotly wheel, WebGL scene).
(function () {
  "use strict";
  const holder = document.getElementById("structure-view");
  const source = document.getElementById("structure-figure");
  if (!holder || !source || typeof Plotly === "undefined") return;
  const figure = JSON.parse(source.textContent);
  Plotly.newPlot(holder, figure.data, figure.layout, {
    responsive: true,
    displaylogo: false,
    modeBarButtonsToRemove: ["sendDataToCloud"],
  }).then(function () {
    holder.dataset.rendered = "true";  // the browser test waits for this
  });
})();
