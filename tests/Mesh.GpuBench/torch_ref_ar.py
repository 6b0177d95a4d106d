#!/usr/bin/env python3
"""Times ref-ar's decode step in PyTorch on the GPU with the same weights (read from step.onnx): eager,
torch.compile(mode="reduce-overhead") and torch.compile(mode="max-autotune"), at batch 1 and 16.

Each step is timed as Mesh times it: the tokens come from the host, the recurrent state stays on the device,
the logits go back to the host. Medians over --steps after warm-up (compilation excluded). Writes --out as JSON
for Mesh.GpuBench --torch. usage: torch_ref_ar.py --model step.onnx --out torch.json [--steps N]
"""
import argparse
import json
import statistics
import time

import numpy as np
import onnx
import torch
from onnx import numpy_helper

LAYERS, WIDTH, VOCABULARY = 24, 1024, 1024


class RefArStep(torch.nn.Module):
    def __init__(self, weights):
        super().__init__()
        t = lambda name: torch.nn.Parameter(torch.from_numpy(weights[name].copy()), requires_grad=False)
        self.embedding = t("embedding")
        self.inputs = torch.nn.ParameterList([t(f"layer{i}.input") for i in range(LAYERS)])
        self.recurrent = torch.nn.ParameterList([t(f"layer{i}.recurrent") for i in range(LAYERS)])
        self.head = t("head")

    def forward(self, token, state):
        x = self.embedding[token.squeeze(1)]
        states = []
        for layer in range(LAYERS):
            x = torch.tanh(x @ self.inputs[layer] + state[layer] @ self.recurrent[layer])
            states.append(x)
        return x @ self.head, torch.stack(states)


def tokens_for(step, batch):
    return np.array([[(step * 31 + row * 7 + 1) % VOCABULARY] for row in range(batch)], dtype=np.int64)


def time_steps(step_fn, batch, steps, warmup, compiled):
    state = torch.zeros(LAYERS, batch, WIDTH, device="cuda")
    host_tokens = torch.empty(batch, 1, dtype=torch.int64).pin_memory()
    times, first_logits = [], None
    for i in range(warmup + steps):
        host_tokens.copy_(torch.from_numpy(tokens_for(i, batch)))
        started = time.perf_counter()
        if compiled:
            torch.compiler.cudagraph_mark_step_begin()
        logits, next_state = step_fn(host_tokens.to("cuda", non_blocking=True), state)
        host_logits = logits.cpu()  # synchronizes
        # A CUDA-graph output is overwritten by the next replay: keep the state in memory of our own.
        state = next_state.clone() if compiled else next_state
        elapsed = (time.perf_counter() - started) * 1000
        if i == 0:
            first_logits = host_logits.numpy()
        if i >= warmup:
            times.append(elapsed)
    return statistics.median(times), first_logits


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()

    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 as Mesh runs it (CUDA_TF32=false)
    torch.backends.cudnn.allow_tf32 = False
    weights = {i.name: numpy_helper.to_array(i) for i in onnx.load(args.model).graph.initializer}
    model = RefArStep(weights).cuda().eval()
    result = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "compile_seconds": {}}

    try:
        import onnxruntime
        session = onnxruntime.InferenceSession(args.model, providers=["CPUExecutionProvider"])
        expected = session.run(["logits"], {"token": tokens_for(0, 1), "state": np.zeros((LAYERS, 1, WIDTH), np.float32)})[0]
        with torch.inference_mode():
            actual, _ = model(torch.from_numpy(tokens_for(0, 1)).cuda(), torch.zeros(LAYERS, 1, WIDTH, device="cuda"))
        result["max_abs_vs_onnx_cpu"] = float(np.abs(actual.cpu().numpy() - expected).max())
    except Exception as error:  # the comparison is a cross-check; the timings stand without it
        result["onnx_cpu_check_error"] = str(error)

    modes = [("eager", None), ("reduce-overhead", "reduce-overhead"), ("max-autotune", "max-autotune")]
    for batch in (1, 16):
        timings = result.setdefault(f"batch{batch}", {})
        for name, mode in modes:
            try:
                torch._dynamo.reset()
                step_fn = model if mode is None else torch.compile(model, mode=mode, fullgraph=True, dynamic=False)
                started = time.perf_counter()
                with torch.inference_mode():
                    time_steps(step_fn, batch, 1, 3, mode is not None)  # compiles
                    result["compile_seconds"][f"batch{batch}/{name}"] = round(time.perf_counter() - started, 1)
                    median, _ = time_steps(step_fn, batch, args.steps, 30, mode is not None)
                timings[name] = round(median, 4)
                print(f"torch batch {batch} {name}: {median:.3f} ms", flush=True)
            except Exception as error:
                result.setdefault("errors", {})[f"batch{batch}/{name}"] = str(error)[:500]
                print(f"torch batch {batch} {name}: FAILED {error}", flush=True)
            with open(args.out, "w") as out:
                json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()
