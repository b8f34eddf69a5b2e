"""pimc dialects: nn (tensor level), place (device placement), pim (PIM macros), aim (GDDR6-AiM ISR)."""
