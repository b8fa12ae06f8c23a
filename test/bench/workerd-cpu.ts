// CPU time (user + system, ms) that the workerd processes this bench started have used so far,
// read from /proc: the Worker, every Durable Object, the local queue and D1 run on workerd's one
// thread here, so a difference of two readings over a phase is what that phase cost the thread.
// Counts a workerd whose parent or grandparent is this process (Miniflare's child, or the child
// of a helper it spawned); null when there is none (another host, or no /proc).
import { readdirSync, readFileSync } from "node:fs";

function statFields(pid: string | number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name may hold spaces; the fields after it are space-separated.
  return [stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")), ...stat.slice(stat.lastIndexOf(")") + 2).split(" ")];
}

export function workerdCpuMs(): number | null {
  let ticks = 0;
  let found = false;
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((p) => /^\d+$/.test(p));
  } catch {
    return null;
  }
  for (const pid of pids) {
    try {
      const f = statFields(pid);
      if (f[0] !== "workerd") continue;
      const ppid = Number(f[2]);
      let grand = -1;
      try {
        grand = Number(statFields(ppid)[2]);
      } catch {
        // the parent is gone
      }
      if (ppid !== process.pid && grand !== process.pid) continue;
      // utime and stime, in clock ticks (USER_HZ is 100 on Linux).
      ticks += Number(f[12]) + Number(f[13]);
      found = true;
    } catch {
      // the process ended while being read
    }
  }
  return found ? ticks * 10 : null;
}
