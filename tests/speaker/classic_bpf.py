"""A tiny classic-BPF interpreter and verifier: runs speaker.wire.filters programs without root.

It implements only what a socket filter on a packet socket needs here (absolute loads, JEQ/JA,
RET K) and refuses anything else, so a program using an unexpected opcode fails the test instead
of being silently misread. Semantics follow the kernel's: loads are big-endian, a load past the
end of the frame ends the program with 0 (drop), and `bpf_check_classic` rules are verified.
"""

from collections.abc import Sequence

from speaker.wire.filters import (
    BPF_MAXINSNS,
    JMP_JA,
    JMP_JEQ_K,
    LD_B_ABS,
    LD_H_ABS,
    LD_W_ABS,
    RET_K,
    Instruction,
)

_LOAD_SIZES = {LD_W_ABS: 4, LD_H_ABS: 2, LD_B_ABS: 1}


class InvalidProgramError(Exception):
    """The kernel would refuse this program with EINVAL."""


def verify(program: Sequence[Instruction]) -> None:
    """Raise InvalidProgramError where the kernel's bpf_check_classic would refuse the program."""
    if not 0 < len(program) <= BPF_MAXINSNS:
        raise InvalidProgramError(f"{len(program)} instructions")
    for pc, (code, jt, jf, k) in enumerate(program):
        if not (0 <= jt <= 0xFF and 0 <= jf <= 0xFF and 0 <= k <= 0xFFFF_FFFF):
            raise InvalidProgramError(f"field out of range at {pc}")
        if code == JMP_JA and k >= len(program) - pc - 1:
            raise InvalidProgramError(f"ja out of range at {pc}")
        if code == JMP_JEQ_K and max(jt, jf) + pc + 1 >= len(program):
            raise InvalidProgramError(f"jeq out of range at {pc}")
        if code not in (*_LOAD_SIZES, JMP_JA, JMP_JEQ_K, RET_K):
            raise InvalidProgramError(f"unsupported opcode {code:#x} at {pc}")
    if program[-1].code != RET_K:
        raise InvalidProgramError("last instruction is not a return")


def run(program: Sequence[Instruction], frame: bytes) -> int:
    """Run a verified program on a frame; return how many bytes the kernel would keep (0 = drop)."""
    verify(program)
    accumulator, pc = 0, 0
    while True:
        code, jt, jf, k = program[pc]
        pc += 1
        if code in _LOAD_SIZES:
            size = _LOAD_SIZES[code]
            if k + size > len(frame):
                return 0
            accumulator = int.from_bytes(frame[k : k + size], "big")
        elif code == JMP_JEQ_K:
            pc += jt if accumulator == k else jf
        elif code == JMP_JA:
            pc += k
        else:
            return min(k, len(frame))
