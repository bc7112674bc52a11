"""Generator training: synthetic SFT data (synth), stage 1 SFT (sft) and stage 2 GRPO (rl);
the commands are `flowforge train synth|sft|rl`."""
