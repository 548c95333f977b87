import { defineConfig } from 'drizzle-kit';

// Generates drizzle/*.sql from src/lease/schema.ts with placeholder schema and prefix names; the
// library's own runner (src/lease/migrate.ts) substitutes the user's schema and prefix at run time.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/lease/schema.ts',
  out: './drizzle',
});
