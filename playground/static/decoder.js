// The VAE's decoder, run in the page (issue 19, item 2): the same forward as vae.model.Decoder, on plain typed arrays.
//
// A spec (playground/pad.py, decoder_spec) lists the decoder as the server has it: the Linear layer to c0 x 7 x 7,
// then its layers in order (3x3 conv with padding 1, ReLU, nearest x2 upsample), then the mean: sigmoid, or the
// output itself for a linear mean, clipped to [0, 1] as a picture is. Weights arrive once, as base64 float32.
const VAEDecoder = (() => {
  function floats(b64) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    return new Float32Array(bytes.buffer);
  }

  // The spec with its weights as Float32Arrays; a conv right after an upsample also gets its four 2x2 phase kernels.
  function prepare(spec) {
    const layers = spec.layers.map((l) => (l.op === "conv" ? { ...l, w: floats(l.w), b: floats(l.b) } : l));
    layers.forEach((l, i) => { if (l.op === "conv" && i > 0 && layers[i - 1].op === "up") l.phases = phaseKernels(l); });
    return { latent_dim: spec.latent_dim, c0: spec.c0, mean: spec.mean, fc: { w: floats(spec.fc.w), b: floats(spec.fc.b) }, layers };
  }

  // A 3x3 conv over a nearest x2 upsampled map reads, for the output pixel (2y + a, 2x + b), only rows y - 1 + a and
  // y + a and columns x - 1 + b and x + b of the small map: per phase (a, b) a 2x2 kernel whose weights are sums of
  // the 3x3 ones (rows 0 | 1+2 for a = 0, 0+1 | 2 for a = 1; columns alike). 4 instead of 9 products per output pixel.
  // Laid out as upconv3 reads them: phase, then a block of 4 output channels, then input channel, then the block's
  // 4 x 4 weights (a block past cout is zeros).
  const TAPS = [[[0], [1, 2]], [[0, 1], [2]]];  // TAPS[a][d]: the 3x3 rows (or columns) summed into 2x2 row (column) d
  function phaseKernels(l) {
    const blocks = Math.ceil(l.cout / 4), k = new Float32Array(4 * blocks * l.cin * 16);
    for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) for (let co = 0; co < l.cout; co++) for (let ci = 0; ci < l.cin; ci++)
      for (let dr = 0; dr < 2; dr++) for (let dc = 0; dc < 2; dc++) {
        let sum = 0;
        for (const ky of TAPS[a][dr]) for (const kx of TAPS[b][dc]) sum += l.w[((co * l.cin + ci) * 3 + ky) * 3 + kx];
        k[(((a * 2 + b) * blocks + (co >> 2)) * l.cin + ci) * 16 + (co & 3) * 4 + dr * 2 + dc] = sum;
      }
    return k;
  }

  // torch.nn.Linear: out[o] = b[o] + sum_i w[o, i] z[i]
  function linear(fc, z, size) {
    const d = z.length, out = new Float32Array(size);
    for (let o = 0; o < size; o++) {
      let s = fc.b[o];
      for (let i = 0; i < d; i++) s += fc.w[o * d + i] * z[i];
      out[o] = s;
    }
    return out;
  }

  // x (c, h, w) copied into a zero border: (c, h + 2, w + 2). A kernel row then adds over one long run of the padded
  // rows (each output row carries 2 spare columns, dropped at the end): long plain loops, fast enough to follow a drag.
  function padded(x, c, h, w) {
    const W = w + 2, plane = (h + 2) * W, out = new Float32Array(c * plane);
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++) out.set(x.subarray((ch * h + y) * w, (ch * h + y + 1) * w), ch * plane + (y + 1) * W + 1);
    return out;
  }

  // torch.nn.Conv2d(cin, cout, 3, padding=1) on x (cin, h, w)
  function conv3(x, l, h, w) {
    const W = w + 2, plane = (h + 2) * W, run = h * W - 2, src = padded(x, l.cin, h, w);
    const acc = new Float32Array(h * W), out = new Float32Array(l.cout * h * w);
    for (let co = 0; co < l.cout; co++) {
      acc.fill(l.b[co]);
      for (let ci = 0; ci < l.cin; ci++) {
        for (let r = 0; r < 3; r++) {  // one row of the kernel at a time: three products per pass over the run
          const p = (co * l.cin + ci) * 9 + 3 * r, from = ci * plane + r * W, k0 = l.w[p], k1 = l.w[p + 1], k2 = l.w[p + 2];
          for (let i = 0; i < run; i++) acc[i] += k0 * src[from + i] + k1 * src[from + i + 1] + k2 * src[from + i + 2];
        }
      }
      for (let y = 0; y < h; y++) out.set(acc.subarray(y * W, y * W + w), (co * h + y) * w);
    }
    return out;
  }

  // torch.nn.Upsample(scale_factor=2, mode="nearest") then that conv, on x (cin, h, w): (cout, 2h, 2w), by phases.
  // Four output channels at a time: the four inputs read at a pixel feed 16 products instead of 4 (the loads were the
  // loop's cost).
  function upconv3(x, l, h, w) {
    const W = w + 2, plane = (h + 2) * W, run = h * W - 2, src = padded(x, l.cin, h, w), blocks = Math.ceil(l.cout / 4);
    const acc = [0, 1, 2, 3].map(() => new Float32Array(h * W)), out = new Float32Array(l.cout * 4 * h * w), w2 = 2 * w;
    const [a0, a1, a2, a3] = acc, K = l.phases;
    for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) {
      for (let block = 0; block < blocks; block++) {
        const co = 4 * block, n = Math.min(4, l.cout - co);
        for (let j = 0; j < 4; j++) acc[j].fill(j < n ? l.b[co + j] : 0);
        for (let ci = 0; ci < l.cin; ci++) {
          const from = ci * plane + a * W + b, below = from + W, q = (((a * 2 + b) * blocks + block) * l.cin + ci) * 16;
          const k00 = K[q], k01 = K[q + 1], k02 = K[q + 2], k03 = K[q + 3], k10 = K[q + 4], k11 = K[q + 5], k12 = K[q + 6], k13 = K[q + 7];
          const k20 = K[q + 8], k21 = K[q + 9], k22 = K[q + 10], k23 = K[q + 11], k30 = K[q + 12], k31 = K[q + 13], k32 = K[q + 14], k33 = K[q + 15];
          for (let i = 0; i < run; i++) {
            const s0 = src[from + i], s1 = src[from + i + 1], s2 = src[below + i], s3 = src[below + i + 1];
            a0[i] += k00 * s0 + k01 * s1 + k02 * s2 + k03 * s3;
            a1[i] += k10 * s0 + k11 * s1 + k12 * s2 + k13 * s3;
            a2[i] += k20 * s0 + k21 * s1 + k22 * s2 + k23 * s3;
            a3[i] += k30 * s0 + k31 * s1 + k32 * s2 + k33 * s3;
          }
        }
        for (let j = 0; j < n; j++) {
          for (let y = 0; y < h; y++) {
            const to = ((co + j) * 2 * h + 2 * y + a) * w2 + b;
            for (let c = 0; c < w; c++) out[to + 2 * c] = acc[j][y * W + c];
          }
        }
      }
    }
    return out;
  }

  // torch.nn.Upsample(scale_factor=2, mode="nearest") on x (c, h, w)
  function up2(x, c, h, w) {
    const out = new Float32Array(c * 4 * h * w), w2 = 2 * w;
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < 2 * h; y++) {
        const from = ch * h * w + (y >> 1) * w, to = (ch * 2 * h + y) * w2;
        for (let c2 = 0; c2 < w2; c2++) out[to + c2] = x[from + (c2 >> 1)];
      }
    }
    return out;
  }

  // The picture decode(z) (28 x 28 values in [0, 1]) for one z (latent_dim numbers).
  function decode(net, z) {
    let c = net.c0, h = 7, w = 7;
    let x = linear(net.fc, Float32Array.from(z), c * h * w);
    const layers = net.layers;
    for (let i = 0; i < layers.length; i++) {
      const l = layers[i], next = layers[i + 1];
      if (l.op === "relu") x = x.map((v) => (v > 0 ? v : 0));
      else if (l.op === "up" && next && next.phases) { x = upconv3(x, next, h, w); h *= 2; w *= 2; c = next.cout; i++; }
      else if (l.op === "up") { x = up2(x, c, h, w); h *= 2; w *= 2; }
      else if (l.op === "conv") { x = conv3(x, l, h, w); c = l.cout; }
    }
    const image = x.slice(0, h * w);  // the mean's channel (a learned sigma's channel comes second)
    for (let i = 0; i < image.length; i++) {
      const v = net.mean === "sigmoid" ? 1 / (1 + Math.exp(-image[i])) : image[i];
      image[i] = Math.min(1, Math.max(0, v));
    }
    return image;
  }

  return { prepare, decode };
})();
window.VAEDecoder = VAEDecoder;
