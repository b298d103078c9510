// Metric charts on Chart.js (vendored under vendor/chartjs/, loaded by the page as a
// classic script: window.Chart). Shared by the studio and the manager's dashboard. Charts
// draw what the API computed; each estimate's 95 % interval is a whisker.

// Vertical whiskers for each point's interval (dataset.intervals[i] = [low, high]).
const whiskers = {
  id: "whiskers",
  afterDatasetsDraw(chart) {
    const { ctx, scales: { y } } = chart;
    chart.data.datasets.forEach((dataset, index) => {
      if (!dataset.intervals || !chart.isDatasetVisible(index)) return;
      ctx.save();
      ctx.strokeStyle = dataset.borderColor;
      ctx.lineWidth = 1.5;
      chart.getDatasetMeta(index).data.forEach((point, i) => {
        const [low, high] = dataset.intervals[i] || [];
        if (low === null || low === undefined || high === null || high === undefined) return;
        const [top, bottom] = [y.getPixelForValue(high), y.getPixelForValue(low)];
        ctx.beginPath();
        ctx.moveTo(point.x, top);
        ctx.lineTo(point.x, bottom);
        for (const at of [top, bottom]) {
          ctx.moveTo(point.x - 4, at);
          ctx.lineTo(point.x + 4, at);
        }
        ctx.stroke();
      });
      ctx.restore();
    });
  },
};

const isNumber = (v) => v !== null && v !== undefined && Number.isFinite(Number(v));

// series: [{label, color, points: [{x, y, low, high}]}]; baselines: [{label, color, y}]
// drawn as dashed lines across the x range. Returns the Chart, or null without Chart.js.
export function metricChart(canvas, { series, baselines = [], xTitle, yTitle }) {
  const previous = window.Chart && window.Chart.getChart ? window.Chart.getChart(canvas) : null;
  if (previous) previous.destroy();
  const datasets = [];
  let maxX = 0;
  for (const s of series) {
    const points = s.points.filter((p) => isNumber(p.y)).sort((a, b) => a.x - b.x);
    points.forEach((p) => { maxX = Math.max(maxX, p.x); });
    datasets.push({ label: s.label, data: points.map(({ x, y }) => ({ x, y })), showLine: true,
      borderColor: s.color, backgroundColor: s.color, intervals: points.map((p) => [p.low, p.high]) });
  }
  const right = Math.max(10, Math.ceil(maxX * 1.15));
  for (const b of baselines.filter((line) => isNumber(line.y))) {
    datasets.push({ label: b.label, data: [{ x: 0, y: b.y }, { x: right, y: b.y }], showLine: true, pointRadius: 0,
      borderDash: [6, 4], borderColor: b.color, backgroundColor: b.color, baseline: true });
  }
  canvas.dataset.points = String(datasets.filter((d) => !d.baseline).reduce((n, d) => n + d.data.length, 0));
  canvas.dataset.series = datasets.filter((d) => d.data.length).map((d) => d.label).join(",");
  if (typeof window.Chart !== "function") return null;
  return new window.Chart(canvas, {
    type: "scatter",
    data: { datasets },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false,
      scales: {
        x: { min: 0, suggestedMax: right, title: { display: true, text: xTitle } },
        y: { min: 0, max: 1, title: { display: true, text: yTitle } },
      },
      plugins: { legend: { position: "bottom" } },
    },
    plugins: [whiskers],
  });
}
