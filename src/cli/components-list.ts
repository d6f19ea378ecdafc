// The names of `kubelite up`'s components, apart from their code so that checking flags does not load it.
export type Component = 'controllers' | 'scheduler' | 'nodes';
export const COMPONENTS: Component[] = ['controllers', 'scheduler', 'nodes'];
