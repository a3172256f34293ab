/* global window */
/**
 * Usage charts with Chart.js (served from the project, /console/vendor/chart.umd.min.js). Each chart
 * is drawn from one analytics answer, the same numbers the API gives, and comes with the table it
 * was drawn from, so the figures can be read exactly and by a screen reader.
 */
import { credits, h, table } from './dom.js';

/** Okabe–Ito: told apart by people with any common colour-vision deficiency. */
const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];

const charts = new Set();

/** Charts hold a canvas and listeners: dropped when the page changes. */
export function destroyCharts() {
  for (const chart of charts) chart.destroy();
  charts.clear();
}

function draw(canvas, config) {
  const Chart = window.Chart;
  if (!Chart) return;
  config.options = {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    ...config.options,
  };
  charts.add(new Chart(canvas, config));
}

function colour(index) {
  return PALETTE[index % PALETTE.length];
}

/**
 * Usage by day, stacked by meter, from groups of `groupBy=day,meter`. Returns the figure: a
 * described canvas and, in a disclosure, the table of the same groups.
 */
export function usageByDayChart(report, title) {
  const days = [...new Set(report.groups.map((group) => group.day))].sort();
  const meters = [...new Set(report.groups.map((group) => group.meter))].sort();
  const byKey = new Map(report.groups.map((group) => [`${group.day}|${group.meter}`, group.credits]));
  const summary =
    days.length === 0
      ? `${title}: no usage in this range.`
      : `${title}: ${credits(report.total.credits)} credits over ${days.length} day(s), ${days[0]} to ${days[days.length - 1]}, meters ${meters.join(', ')}.`;
  const canvas = h('canvas', { role: 'img', 'aria-label': summary });
  const figure = h(
    'figure',
    { class: 'chart', dataset: { chart: 'usage-by-day' } },
    h(
      'figcaption',
      {},
      title,
      ' ',
      h('span', { class: 'total', dataset: { field: 'usage.total' } }, credits(report.total.credits)),
      ' credits',
    ),
    h('div', { class: 'chart-box' }, canvas),
    h(
      'details',
      {},
      h('summary', {}, 'Show as a table'),
      table(
        `${title}, by day and meter`,
        [
          { label: 'Day', rowHeader: true },
          { label: 'Meter' },
          { label: 'Credits', class: 'num' },
          { label: 'Records', class: 'num' },
        ],
        report.groups.map((group) => ({
          cells: [group.day, group.meter, credits(group.credits), credits(group.records)],
          attributes: { dataset: { day: group.day, meter: group.meter, credits: String(group.credits) } },
        })),
      ),
    ),
  );
  draw(canvas, {
    type: 'bar',
    data: {
      labels: days,
      datasets: meters.map((meter, index) => ({
        label: meter,
        data: days.map((day) => byKey.get(`${day}|${meter}`) ?? 0),
        backgroundColor: colour(index),
        maxBarThickness: 64,
      })),
    },
    options: {
      scales: {
        x: { stacked: true },
        y: { stacked: true, beginAtZero: true, title: { display: true, text: 'credits' } },
      },
      plugins: { legend: { position: 'bottom' } },
    },
  });
  return figure;
}

/** Usage by meter (`groupBy=meter`): one bar per meter, with its table. */
export function usageByMeterChart(report, title) {
  const groups = [...report.groups].sort((left, right) => right.credits - left.credits);
  const summary =
    groups.length === 0
      ? `${title}: no usage in this range.`
      : `${title}: ` +
        groups.map((group) => `${group.meter} ${credits(group.credits)}`).join(', ') +
        ' credits.';
  const canvas = h('canvas', { role: 'img', 'aria-label': summary });
  const figure = h(
    'figure',
    { class: 'chart', dataset: { chart: 'usage-by-meter' } },
    h('figcaption', {}, title),
    h('div', { class: 'chart-box' }, canvas),
    h(
      'details',
      {},
      h('summary', {}, 'Show as a table'),
      table(
        `${title}, by meter`,
        [
          { label: 'Meter', rowHeader: true },
          { label: 'Credits', class: 'num' },
          { label: 'Records', class: 'num' },
        ],
        groups.map((group) => ({
          cells: [group.meter, credits(group.credits), credits(group.records)],
          attributes: { dataset: { meter: group.meter, credits: String(group.credits) } },
        })),
      ),
    ),
  );
  draw(canvas, {
    type: 'bar',
    data: {
      labels: groups.map((group) => group.meter),
      datasets: [
        {
          label: 'credits',
          data: groups.map((group) => group.credits),
          maxBarThickness: 40,
          backgroundColor: groups.map((_, index) => colour(index)),
        },
      ],
    },
    options: {
      indexAxis: 'y',
      scales: { x: { beginAtZero: true, title: { display: true, text: 'credits' } } },
      plugins: { legend: { display: false } },
    },
  });
  return figure;
}
