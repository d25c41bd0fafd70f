"""MetalPool's shared vocabulary: pure parsing of pools, advertisements and Services."""
