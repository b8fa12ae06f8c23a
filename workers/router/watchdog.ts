// A deadline that moves without touching the timer. Timers are calls into the runtime in workerd
// and not cheap (a CPU profile of a relayed chat request put setTimeout + clearTimeout at about
// 8% of its JavaScript time when each phase had its own timer). Here one timer serves a whole
// call: pushing the deadline later only records it, and when the timer fires early it re-arms
// for what is left; only pulling the deadline earlier re-arms at once. A stream that reads many
// chunks thus costs one setTimeout and one clearTimeout, not one pair per chunk.
export class Watchdog {
  private until = Infinity;
  private armedFor = Infinity;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly onExpire: () => void;

  constructor(onExpire: () => void) {
    this.onExpire = onExpire;
  }

  // The deadline is now + ms (earlier or later than before).
  set(ms: number): void {
    this.until = Date.now() + ms;
    if (this.timer === undefined || this.until < this.armedFor) this.arm();
  }

  // No deadline until the next set() (the timer, if armed, lapses quietly).
  pause(): void {
    this.until = Infinity;
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.until = Infinity;
  }

  private arm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedFor = this.until;
    this.timer = setTimeout(() => this.fire(), Math.max(0, this.until - Date.now()));
  }

  private fire(): void {
    this.timer = undefined;
    if (this.until === Infinity) return;
    if (this.until > Date.now()) return this.arm();
    this.until = Infinity;
    this.onExpire();
  }
}
