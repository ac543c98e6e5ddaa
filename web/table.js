// A virtualized, keyboard-operable table: a fixed row height, a spacer as
// tall as all rows, and only the rows in view (plus a margin) in the DOM,
// recycled as it scrolls. Text is set with textContent only.

const MARGIN = 8;

let nextId = 0;

export class VirtualTable {
  /**
   * columns: [{ title, width, narrow?: boolean (kept at phone width), cell(row) -> {text, cls?, title?} }]
   * source: { length(): number, row(i): object, rowClass?(row): string }
   */
  constructor(host, { columns, label, onOpen, empty = 'Nothing to show.', minWidth = 760 }) {
    this.host = host;
    this.columns = columns;
    this.onOpen = onOpen;
    this.emptyText = empty;
    this.source = { length: () => 0, row: () => null };
    this.active = -1;
    this.pool = [];
    this.id = `vt${nextId++}`;
    this.rowHeight = 34;

    const cols = columns.map((c) => c.width).join(' ');
    const narrow = columns.filter((c) => c.narrow).map((c) => c.width).join(' ');
    host.classList.add('vt');
    host.style.setProperty('--cols', cols);
    host.style.setProperty('--cols-narrow', narrow);
    host.style.setProperty('--min', `${minWidth}px`);
    const inner = el('div', 'vt-inner');
    this.grid = el('div', 'vt-grid');
    this.grid.setAttribute('role', 'grid');
    this.grid.setAttribute('aria-label', label);
    this.grid.setAttribute('aria-readonly', 'true');
    const head = el('div', 'vt-head');
    head.setAttribute('role', 'row');
    head.setAttribute('aria-rowindex', '1');
    for (const c of columns) {
      const h = el('div', c.narrow ? '' : 'wide');
      h.setAttribute('role', 'columnheader');
      h.textContent = c.title;
      head.append(h);
    }
    this.body = el('div', 'vt-body');
    this.body.tabIndex = 0;
    this.body.setAttribute('role', 'rowgroup');
    this.body.setAttribute('aria-label', `${label}: arrow keys move, Enter opens`);
    this.spacer = el('div', 'vt-spacer');
    this.rows = el('div', 'vt-rows');
    this.empty = el('div', 'vt-empty');
    this.body.append(this.spacer, this.rows, this.empty);
    this.grid.append(head, this.body);
    inner.append(this.grid);
    host.append(inner);

    this.body.addEventListener('scroll', () => this.schedule(), { passive: true });
    this.body.addEventListener('keydown', (e) => this.key(e));
    this.body.addEventListener('click', (e) => {
      const r = e.target.closest('.vt-row');
      if (!r) return;
      const i = Number(r.dataset.i);
      this.setActive(i, false);
      this.onOpen?.(this.source.row(i), i, r);
    });
    this.body.addEventListener('focus', () => {
      if (this.active < 0 && this.source.length() > 0) this.setActive(0, false);
    });
    new ResizeObserver(() => this.schedule()).observe(this.body);
  }

  /** Show `source`; keeps the scroll position when `keep`. */
  setSource(source, keep = false) {
    this.source = source;
    if (!keep) {
      this.active = -1;
      this.body.scrollTop = 0;
    }
    this.refresh();
  }

  schedule() {
    if (this.pending) return;
    this.pending = requestAnimationFrame(() => {
      this.pending = 0;
      this.render();
    });
  }

  refresh() {
    this.schedule();
  }

  render() {
    const n = this.source.length();
    this.grid.setAttribute('aria-rowcount', String(n + 1));
    this.spacer.style.height = `${n * this.rowHeight}px`;
    this.empty.hidden = n > 0;
    this.empty.textContent = this.emptyText;
    const top = this.body.scrollTop;
    const height = this.body.clientHeight || 400;
    const first = Math.max(0, Math.floor(top / this.rowHeight) - MARGIN);
    const last = Math.min(n, Math.ceil((top + height) / this.rowHeight) + MARGIN);
    const count = Math.max(0, last - first);
    while (this.pool.length < count) {
      const r = el('div', 'vt-row');
      r.setAttribute('role', 'row');
      for (const c of this.columns) {
        const d = el('div', c.narrow ? '' : 'wide');
        d.setAttribute('role', 'gridcell');
        r.append(d);
      }
      this.pool.push(r);
      this.rows.append(r);
    }
    this.rows.style.transform = `translateY(${first * this.rowHeight}px)`;
    for (let k = 0; k < this.pool.length; k++) {
      const r = this.pool[k];
      if (k >= count) {
        r.hidden = true;
        continue;
      }
      const i = first + k;
      const row = this.source.row(i);
      r.hidden = false;
      r.dataset.i = String(i);
      r.id = `${this.id}-r${i}`;
      r.setAttribute('aria-rowindex', String(i + 2));
      r.className = `vt-row ${this.source.rowClass?.(row) ?? ''}${i === this.active ? ' active' : ''}`;
      r.setAttribute('aria-selected', i === this.active ? 'true' : 'false');
      this.columns.forEach((c, j) => {
        const cell = r.children[j];
        const v = c.cell(row);
        cell.textContent = v.text ?? '';
        cell.className = `${c.narrow ? '' : 'wide'} ${v.cls ?? ''}`;
        if (v.title) cell.title = v.title;
        else cell.removeAttribute('title');
      });
    }
    if (this.active >= 0 && this.active < n) {
      this.body.setAttribute('aria-activedescendant', `${this.id}-r${this.active}`);
    } else {
      this.body.removeAttribute('aria-activedescendant');
    }
  }

  setActive(i, scroll = true) {
    const n = this.source.length();
    if (n === 0) return;
    this.active = Math.max(0, Math.min(n - 1, i));
    if (scroll) {
      const y = this.active * this.rowHeight;
      const h = this.body.clientHeight;
      if (y < this.body.scrollTop) this.body.scrollTop = y;
      else if (y + this.rowHeight > this.body.scrollTop + h) this.body.scrollTop = y + this.rowHeight - h;
    }
    this.render();
  }

  key(e) {
    const page = Math.max(1, Math.floor(this.body.clientHeight / this.rowHeight) - 1);
    const moves = {
      ArrowDown: 1,
      ArrowUp: -1,
      PageDown: page,
      PageUp: -page,
    };
    if (e.key in moves) {
      this.setActive((this.active < 0 ? 0 : this.active) + moves[e.key]);
    } else if (e.key === 'Home') {
      this.setActive(0);
    } else if (e.key === 'End') {
      this.setActive(this.source.length() - 1);
    } else if ((e.key === 'Enter' || e.key === ' ') && this.active >= 0) {
      const r = this.rows.querySelector(`[data-i="${this.active}"]`);
      this.onOpen?.(this.source.row(this.active), this.active, r);
    } else {
      return;
    }
    e.preventDefault();
  }

  focus() {
    this.body.focus();
  }
}

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
