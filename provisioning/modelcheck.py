"""Test-load a vosk model in a child process: `python -m provisioning.modelcheck DIR`.

A broken model can make Kaldi abort the whole process; in a child that is an exit code we
can explain, not a crashed installer. Prints one line and exits 0 when the model loads.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    import vosk

    vosk.SetLogLevel(-1)
    try:
        model = vosk.Model(argv[0])
        vosk.KaldiRecognizer(model, 16000)
    except Exception as exc:
        print(f"load failed: {exc}")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
