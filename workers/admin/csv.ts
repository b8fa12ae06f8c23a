// CSV for admin exports: RFC 4180 (CRLF line ends; a field with a comma, a double quote, CR or LF
// is quoted, its quotes doubled) and safe to open in a spreadsheet: a text cell starting with
// = + - @ (or a tab or CR, which some spreadsheets skip before reading a formula) gets a leading
// single quote, so a tenant-chosen name such as "=HYPERLINK(...)" is shown as text, never run.
export type Cell = string | number | null;

const FORMULA_START = new Set(["=", "+", "-", "@", "\t", "\r"]);

export function csvCell(value: Cell): string {
  if (value === null) return "";
  let s = typeof value === "number" ? (Number.isFinite(value) ? String(value) : "") : value;
  // Numbers are ours and never negative here; the guard still applies to any text.
  if (s.length > 0 && FORMULA_START.has(s[0] as string)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function csvRow(cells: readonly Cell[]): string {
  return cells.map(csvCell).join(",") + "\r\n";
}

export function toCsv(header: readonly string[], rows: readonly (readonly Cell[])[]): string {
  return csvRow(header) + rows.map(csvRow).join("");
}
