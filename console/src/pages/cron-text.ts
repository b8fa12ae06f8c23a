// A cron expression in words, field by field, for the job form's preview. The next fire times
// come from croner, the library the scheduler itself validates and runs expressions with.
const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["", "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

type Namer = (n: string) => string;

function part(value: string, unit: string, name: Namer): string {
  if (value === "*" || value === "?") return `every ${unit}`;
  const slash = value.indexOf("/");
  if (slash >= 0) {
    const base = value.slice(0, slash);
    const step = value.slice(slash + 1);
    const from = base === "*" || base === "" ? "" : ` from ${range(base, name)}`;
    return `every ${step} ${unit}s${from}`;
  }
  return `${unit} ${value.split(",").map((v) => range(v, name)).join(", ")}`;
}

function range(v: string, name: Namer): string {
  const dash = v.indexOf("-");
  return dash > 0 ? `${name(v.slice(0, dash))} to ${name(v.slice(dash + 1))}` : name(v);
}

const plain: Namer = (n) => n;
const day: Namer = (n) => DAYS[Number(n) % 7] ?? n;
const month: Namer = (n) => MONTHS[Number(n)] ?? n;

/** "second 0; every 5 minutes; every hour; every day of the month; every month; Monday to Friday", or null. */
export function describeCron(expr: string): string | null {
  const fields = expr.trim().split(" ").filter((f) => f !== "");
  if (fields.length !== 5 && fields.length !== 6) return null;
  const [sec, min, hour, dom, mon, dow] = fields.length === 6 ? fields : ["0", ...fields];
  return [
    fields.length === 6 ? part(sec!, "second", plain) : null,
    part(min!, "minute", plain),
    part(hour!, "hour", plain),
    part(dom!, "day of the month", plain),
    part(mon!, "month", month),
    dow === "*" || dow === "?" ? "any weekday" : part(dow!, "weekday", day).replace(/^weekday /, ""),
  ]
    .filter((p): p is string => p !== null)
    .join("; ");
}
