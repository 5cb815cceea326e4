// A user module: run `psimbols serve` with this file listed under "modules" in the server config.
// It runs in a worker thread (isolated), so a slow call is stopped at its deadline.
import { defineModule, FunctionError } from 'psimbols';
import { z } from 'zod';

export default defineModule({
  name: 'textutil',
  description: 'Small text functions',
  functions: {
    reverse: {
      description: 'reverse a string by code points',
      params: z.strictObject({ s: z.string().max(10_000) }),
      run: ({ s }) => ({ value: [...s].reverse().join(''), comment: `${[...s].length} code points` }),
    },
    word_count: {
      description: 'count the words in a text',
      params: z.strictObject({ text: z.string().max(100_000) }),
      run: ({ text }) => {
        const words = text.split(/\s+/).filter(Boolean);
        return { value: words.length, comment: `${words.length} words` };
      },
    },
    slug: {
      description: 'lower-case ASCII slug of a title',
      params: z.strictObject({ title: z.string().min(1).max(200) }),
      timeoutMs: 1000,
      run: ({ title }) => {
        const slug = title.normalize('NFKD').replace(/[^\w\s-]/g, '').trim().toLowerCase().replace(/[\s_-]+/g, '-');
        if (slug === '') throw new FunctionError('empty_slug', `"${title}" has no ASCII letters or digits`);
        return { value: slug };
      },
    },
  },
});
