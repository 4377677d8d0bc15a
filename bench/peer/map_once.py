"""map_once.py -- PyTorch's side of bench/gpu/map_once.lua: one relu over 1 GiB of f32 after
a warm-up call, for bench/gpu/ncu_map.sh to profile.
    python bench/peer/map_once.py
"""
import torch


def main():
    x = torch.randn(256 * 1024 * 1024, device="cuda")
    y = torch.relu(x)
    torch.cuda.synchronize()
    del y
    y = torch.relu(x)
    torch.cuda.synchronize()
    print(f"relu of {x.numel()} f32 done")


if __name__ == "__main__":
    main()
