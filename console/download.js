/* global document, URL, setTimeout */
/** CSV downloads: the API's own `Accept: text/csv` answer, saved as a file. */
import { csv } from './api.js';
import { announce, errorBox, h } from './dom.js';

/**
 * A button that downloads `path` as CSV under `filename`. `path` may be a function, read at the
 * click, for a download that follows a form's current filters.
 */
export function downloadButton(path, filename, label) {
  return h(
    'button',
    {
      type: 'button',
      class: 'secondary',
      onclick: async (event) => {
        const button = event.currentTarget;
        try {
          const blob = await csv(typeof path === 'function' ? path() : path);
          const url = URL.createObjectURL(blob);
          const link = h('a', { href: url, download: filename, hidden: true });
          document.body.append(link);
          link.click();
          link.remove();
          setTimeout(() => URL.revokeObjectURL(url), 10_000);
          announce(`${filename} downloaded`);
        } catch (error) {
          button.after(errorBox(error));
        }
      },
    },
    label,
  );
}
