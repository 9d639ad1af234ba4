/**
 * zod for every schema in src/: its functional API (`zod/mini`) with English messages. The mini schemas are plain
 * objects, where the method-chaining API (`zod`) defines every method on every instance it builds; a cold start builds
 * every schema of its function before the first answer (docs/benchmarks.md, "Cold start"). zod/mini comes without a
 * locale: without the line below every message would read "Invalid input".
 */
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';

z.config(en());

export * from 'zod/mini';
