// The names of `kubelite up`'s components, apart from their code so that checking flags does not load it.
export type Component = 'controllers' | 'scheduler' | 'nodes' | 'proxy';
export const COMPONENTS: Component[] = ['controllers', 'scheduler', 'nodes', 'proxy'];

/** The service proxy's modes: userspace (sockets, no root) or nftables (kernel rules, root). */
export const PROXY_MODES = ['userspace', 'nftables'] as const;
export type ProxyMode = (typeof PROXY_MODES)[number];

/** How `up`'s components reach its API server (--components-api): in-process channel, API socket, HTTPS. */
export const COMPONENTS_API: string[] = ['channel', 'socket', 'https'];
