// A strict RFC 4180 reader for the tests, written apart from the code under test
// (workers/admin/csv.ts): records end in CRLF, a quoted field may hold commas, CR, LF and doubled
// quotes, and anything else (a bare quote inside an unquoted field, text after a closing quote,
// a missing final CRLF, records of different lengths) is an error.
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let i = 0;
  for (;;) {
    let field = "";
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new Error("unterminated quoted field");
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i++];
      }
    } else {
      while (i < text.length && text[i] !== "," && text[i] !== "\r" && text[i] !== "\n") {
        if (text[i] === '"') throw new Error(`bare quote at ${i}`);
        field += text[i++];
      }
    }
    record.push(field);
    if (text[i] === ",") {
      i++;
      continue;
    }
    if (text.startsWith("\r\n", i)) {
      i += 2;
      records.push(record);
      record = [];
      if (i === text.length) break;
      continue;
    }
    throw new Error(`expected , or CRLF at ${i}`);
  }
  const width = records[0]?.length;
  if (records.some((r) => r.length !== width)) throw new Error("records of different lengths");
  return records;
}

// Header + rows as objects keyed by the header's names.
export function csvObjects(text: string): Record<string, string>[] {
  const [header, ...rows] = parseCsv(text);
  return rows.map((r) => Object.fromEntries(header!.map((h, i) => [h, r[i]!])));
}
