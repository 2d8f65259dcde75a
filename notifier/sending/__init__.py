"""Getting notices out: the campaign lifecycle (plan, launch, pause, cancel), the runner that sends a
campaign window by window, the per-channel pipeline (claim ahead, render, pace, send, record), global
pacing by send slots, signed message tokens, and the settling of rows a crash left uncertain."""
