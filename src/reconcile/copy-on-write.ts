/** A set that copies its base only when first changed: most scoped plans change no ownership at all. */
export class CopyOnWriteSet {
  private readonly base: ReadonlySet<string>;
  private own: Set<string> | undefined;
  constructor(base: ReadonlySet<string>) {
    this.base = base;
  }
  has(x: string): boolean {
    return (this.own ?? this.base).has(x);
  }
  add(x: string): void {
    if (this.has(x)) return;
    this.own ??= new Set(this.base);
    this.own.add(x);
  }
  delete(x: string): void {
    if (!this.has(x)) return;
    this.own ??= new Set(this.base);
    this.own.delete(x);
  }
  result(): ReadonlySet<string> {
    return this.own ?? this.base;
  }
}
