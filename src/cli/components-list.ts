// The names of `kubelite up`'s components, apart from their code so that checking flags does not load it.
export type Component = 'controllers' | 'scheduler' | 'nodes' | 'proxy';
export const COMPONENTS: Component[] = ['controllers', 'scheduler', 'nodes', 'proxy'];
