/**
 * spec.html: the normative text (spec/*.md) as one self-contained page written next to
 * report.html, so that every clause id in the report links to its text (`spec.html#clause-ID`)
 * without a server or a network. The Markdown is rendered plainly — headings, paragraphs,
 * lists, code blocks, inline code, bold — which is all the spec uses; every clause paragraph
 * gets the anchor `clause-<id>`.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { esc } from './html-escape.ts';

const CLAUSE = /^\*\*([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-[0-9]+)\.\*\*/;

export function clauseAnchor(id: string): string {
  return `clause-${id}`;
}

function inline(text: string): string {
  return esc(text)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>');
}

/** One Markdown file as HTML. */
export function markdownToHtml(md: string): string {
  const out: string[] = [];
  const lines = md.split(/\r?\n/);
  let para: string[] = [];
  let list: string[] = [];
  const flushPara = () => {
    if (para.length === 0) return;
    const text = para.join(' ');
    const m = CLAUSE.exec(text);
    out.push(m ? `<p class="clause" id="${esc(clauseAnchor(m[1]))}"><a class="self" href="#${esc(clauseAnchor(m[1]))}">¶</a> ${inline(text)}</p>` : `<p>${inline(text)}</p>`);
    para = [];
  };
  const flushList = () => {
    if (list.length === 0) return;
    out.push(`<ul>${list.map((li) => `<li>${inline(li)}</li>`).join('')}</ul>`);
    list = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (/^\s*(```|~~~)/.test(line)) {
      flushPara();
      flushList();
      const body: string[] = [];
      for (i++; i < lines.length && !/^\s*(```|~~~)/.test(lines[i]); i++) body.push(lines[i]);
      out.push(`<pre>${esc(body.join('\n'))}</pre>`);
      continue;
    }
    const h = /^(#{1,6})\s+(.*)$/.exec(line);
    if (h) {
      flushPara();
      flushList();
      const level = Math.min(6, h[1].length + 1);
      out.push(`<h${level}>${inline(h[2])}</h${level}>`);
      continue;
    }
    if (line.trim() === '') {
      flushPara();
      flushList();
      continue;
    }
    const li = /^\s*[-*]\s+(.*)$/.exec(line);
    if (li) {
      flushPara();
      list.push(li[1]);
      continue;
    }
    if (list.length > 0 && /^\s+/.test(line)) {
      list[list.length - 1] += ` ${line.trim()}`;
      continue;
    }
    para.push(line.trim());
  }
  flushPara();
  flushList();
  return out.join('\n');
}

/** Every spec/*.md file (README first) as one page. */
export function renderSpecHtml(specDir: string): string {
  const files = existsSync(specDir) ? readdirSync(specDir).filter((f) => f.endsWith('.md')).sort((a, b) => (a === 'README.md' ? -1 : b === 'README.md' ? 1 : a.localeCompare(b))) : [];
  const h: string[] = ['<!doctype html>', '<html lang="en"><head><meta charset="utf-8"><title>ioasid specification</title>'];
  h.push('<meta name="viewport" content="width=device-width,initial-scale=1"><style>body{font:14px/1.5 system-ui,sans-serif;margin:2rem;max-width:60rem;color:#1d1d1f}pre{background:#f6f6f6;padding:.4rem;overflow:auto}.clause:target{background:#fff3b0}.self{color:#aaa;text-decoration:none}code{background:#f3f3f3}</style></head><body>');
  h.push('<h1>ioasid specification</h1>');
  h.push(`<nav><ul>${files.map((f) => `<li><a href="#file-${esc(f)}">${esc(f)}</a></li>`).join('')}</ul></nav>`);
  for (const f of files) h.push(`<section id="file-${esc(f)}"><p class="muted">spec/${esc(f)}</p>${markdownToHtml(readFileSync(join(specDir, f), 'utf8'))}</section>`);
  h.push('</body></html>', '');
  return h.join('\n');
}
