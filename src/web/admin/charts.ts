/** Bar charts as SVG, drawn on the server: no script, no external service, no inline style. */

export interface Series {
  label: string;
  values: number[];
}

const WIDTH = 560;
const HEIGHT = 180;
const AXIS = 24;
/** Colour classes in static/app.css, one per series in turn. */
const COLOURS = 6;

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Bars per day, the series stacked in each (the day's total is the bar's height), with the day
 * under each bar and the total above it. `title` names the chart for screen readers; the page
 * shows the same figures in a table beside it.
 */
export function stackedBars(title: string, days: string[], series: Series[]): string {
  const totals = days.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const max = Math.max(1, ...totals);
  const slot = WIDTH / days.length;
  const barWidth = Math.floor(slot * 0.6);
  const plot = HEIGHT - AXIS * 2;
  const bars = days.map((day, i) => {
    const x = Math.round(i * slot + (slot - barWidth) / 2);
    let top = HEIGHT - AXIS;
    const segments = series.map((s, k) => {
      const height = Math.round(((s.values[i] ?? 0) / max) * plot);
      top -= height;
      return height > 0 ? `<rect class="chart-${k % COLOURS}" x="${x}" y="${top}" width="${barWidth}" height="${height}"><title>${escape(`${day} ${s.label}: ${s.values[i]}`)}</title></rect>` : '';
    });
    const label = day.slice(8, 10) + '/' + day.slice(5, 7);
    return `${segments.join('')}<text x="${x + barWidth / 2}" y="${HEIGHT - 6}" text-anchor="middle">${label}</text>`
      + `<text x="${x + barWidth / 2}" y="${top - 4}" text-anchor="middle">${totals[i]}</text>`;
  });
  return `<svg class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${escape(title)}">`
    + `<line class="chart-axis" x1="0" y1="${HEIGHT - AXIS}" x2="${WIDTH}" y2="${HEIGHT - AXIS}"/>${bars.join('')}</svg>`;
}

/** The legend's colour class of series k (the same as its bars). */
export const colourClass = (k: number) => `chart-${k % COLOURS}`;
