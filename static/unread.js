// The unread count in the header badge, the window title and the favicon.

import { at } from './root.js';

const ICON_SIZE = 64;

export class Unread {
  constructor(count, title) {
    this.count = -1;
    this.title = title;
    this.badge = document.getElementById('unread-count');
    this.icon = document.getElementById('favicon');
    this.image = new Image();
    this.image.addEventListener('load', () => this.drawIcon());
    this.image.src = at('static/favicon.svg');
    this.set(count);
  }

  set(count) {
    if (!Number.isFinite(count) || count === this.count) return;
    this.count = count;
    if (this.badge) this.badge.textContent = String(count);
    document.title = count > 0 ? `(${count}) ${this.title}` : this.title;
    this.drawIcon();
  }

  drawIcon() {
    if (!this.icon || !this.image.complete || this.image.naturalWidth === 0) return;
    const canvas = document.createElement('canvas');
    canvas.width = ICON_SIZE;
    canvas.height = ICON_SIZE;
    const g = canvas.getContext('2d');
    g.drawImage(this.image, 0, 0, ICON_SIZE, ICON_SIZE);
    if (this.count > 0) {
      const text = this.count > 99 ? '99+' : String(this.count);
      g.fillStyle = '#d93025';
      g.beginPath();
      g.arc(ICON_SIZE - 20, 20, 20, 0, 2 * Math.PI);
      g.fill();
      g.fillStyle = '#fff';
      g.font = `bold ${text.length > 2 ? 18 : 26}px sans-serif`;
      g.textAlign = 'center';
      g.textBaseline = 'middle';
      g.fillText(text, ICON_SIZE - 20, 21);
    }
    this.icon.type = 'image/png';
    this.icon.href = canvas.toDataURL('image/png');
  }
}
