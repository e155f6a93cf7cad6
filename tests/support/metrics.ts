/** One sample of a metric in Prometheus text, e.g. value(text, 'kediri_logins_total{result="failed",unit="samsat"}'). */
export function value(text: string, sample: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}
