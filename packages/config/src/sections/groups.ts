import { z } from 'zod';

const name = z.string().regex(/^[^\s@,!&^*:]+$/, 'must be a name without spaces or any of @ , ! & ^ * :');
const expression = z.union([z.string(), z.array(z.string())]);

/**
 * Host groups for `@group` / `@source:group` in host expressions (ClusterShell's group sources)
 * and Cumin's `A:alias` queries.
 */
export const groupsSchema = z
  .object({
    /** Source used by `@group` without `source:` (default: the first source, else conftool). */
    default: name.optional(),
    /** Inline sources: `source: {group: expression}` (the built-in `conftool` source cannot be redefined). */
    sources: z.record(name, z.record(z.string().min(1), expression)).default({}),
    /** ClusterShell groups.d YAML files (`source: {group: expression}`), read when a group is first used. */
    files: z.array(z.string().min(1)).default([]),
    /** Cumin aliases: `name: query` (`A:name` in galley-exec). */
    aliases: z.record(z.string().regex(/^[A-Za-z0-9_.+-]+$/, 'must use only letters, digits and - _ . +'), z.string().min(1)).default({}),
  })
  .strict()
  .refine((g) => !Object.hasOwn(g.sources, 'conftool'), { message: "the 'conftool' group source is built in and cannot be redefined", path: ['sources', 'conftool'] });
export type GroupsConfig = z.infer<typeof groupsSchema>;
