import { crc32, deflateSync } from "node:zlib";

// Small, real PNG images for the demo data (scripts/seed-demo.ts), drawn in
// code so the seed needs no asset files and the dashboard's preview shows
// something recognisable: a landscape, an avatar, a product shot, a pattern.

export type Rgb = readonly [number, number, number];
export type PictureKind = "landscape" | "avatar" | "product" | "pattern";

type Painter = (x: number, y: number) => Rgb;

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** One PNG chunk: length, type, data, and the CRC-32 of type and data. */
function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const typed = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typed) >>> 0);
  return Buffer.concat([length, typed, crc]);
}

/** An 8-bit RGB PNG (colour type 2, no interlace), every row unfiltered. */
export function encodePng(width: number, height: number, paint: Painter): Buffer {
  const stride = 1 + width * 3;
  // Each row starts with filter byte 0 (None), which Buffer.alloc already wrote.
  const raw = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const [r, g, b] = paint(x, y);
      const at = y * stride + 1 + x * 3;
      raw[at] = r;
      raw[at + 1] = g;
      raw[at + 2] = b;
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // bit depth 8, RGB, deflate, standard filters, no interlace
  return Buffer.concat([
    SIGNATURE,
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** HSL (hue in degrees, saturation and lightness from 0 to 1) as RGB bytes. */
export function hsl(hue: number, saturation: number, lightness: number): Rgb {
  const h = ((hue % 360) + 360) % 360;
  const a = saturation * Math.min(lightness, 1 - lightness);
  const channel = (n: number) => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (lightness - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [channel(0), channel(8), channel(4)];
}

function mix(a: Rgb, b: Rgb, t: number): Rgb {
  const clamped = Math.max(0, Math.min(1, t));
  return [
    Math.round(a[0] + (b[0] - a[0]) * clamped),
    Math.round(a[1] + (b[1] - a[1]) * clamped),
    Math.round(a[2] + (b[2] - a[2]) * clamped),
  ];
}

/** Sky, sun, far mountains and near hills: a blog cover. */
function landscape(w: number, h: number, hue: number): Painter {
  const skyTop = hsl(hue, 0.6, 0.42);
  const skyBottom = hsl(hue + 35, 0.75, 0.82);
  const sun = hsl(45, 0.95, 0.62);
  const far = hsl(hue + 200, 0.25, 0.45);
  const near = hsl(95 + (hue % 50), 0.4, 0.32);
  const sunX = w * (0.25 + ((hue * 7) % 50) / 100);
  return (x, y) => {
    const farRidge = h * 0.55 + h * 0.12 * Math.sin((x / w) * Math.PI * 3 + hue);
    const nearRidge = h * 0.74 + h * 0.07 * Math.sin((x / w) * Math.PI * 2 + hue * 2);
    if (y > nearRidge) return mix(near, [20, 40, 20], (y - nearRidge) / h);
    if (y > farRidge) return far;
    if (Math.hypot(x - sunX, y - h * 0.33) < h * 0.12) return sun;
    return mix(skyTop, skyBottom, y / h);
  };
}

/** A head-and-shoulders silhouette on a coloured background. */
function avatar(w: number, h: number, hue: number): Painter {
  const background = hsl(hue, 0.55, 0.6);
  const figure = hsl(hue + 20, 0.35, 0.92);
  return (x, y) => {
    const head = Math.hypot(x - w / 2, y - h * 0.4) < w * 0.19;
    const shoulders = ((x - w / 2) / (w * 0.36)) ** 2 + ((y - h * 1.02) / (h * 0.42)) ** 2 < 1;
    return head || shoulders ? figure : mix(background, hsl(hue, 0.55, 0.45), y / h);
  };
}

/** A ball, a box or a bottle on a light backdrop with a shadow. */
function product(w: number, h: number, hue: number, shape: number): Painter {
  const top = hsl(hue, 0.15, 0.97);
  const bottom = hsl(hue, 0.15, 0.86);
  const shadow = hsl(hue, 0.1, 0.7);
  const cx = w / 2;
  const object = (x: number, y: number): Rgb | undefined => {
    if (shape === 0) {
      const d = Math.hypot(x - cx, y - h * 0.52);
      if (d >= h * 0.28) return undefined;
      const light = Math.hypot(x - (cx - h * 0.1), y - h * 0.42) / (h * 0.5);
      return hsl(hue, 0.7, 0.68 - 0.35 * light);
    }
    if (shape === 1) {
      if (x >= w * 0.3 && x < w * 0.66 && y >= h * 0.4 && y < h * 0.8) return hsl(hue, 0.6, 0.5);
      if (x >= w * 0.66 && x < w * 0.74 && y >= h * 0.32 + (x - w * 0.66) * -0.9 + h * 0.08 && y < h * 0.76) {
        return hsl(hue, 0.6, 0.36);
      }
      if (y >= h * 0.32 && y < h * 0.4 && x >= w * 0.3 + (h * 0.4 - y) && x < w * 0.74 - (y - h * 0.32)) {
        return hsl(hue, 0.6, 0.66);
      }
      return undefined;
    }
    const body = y >= h * 0.42 && y < h * 0.8 && Math.abs(x - cx) < w * 0.16;
    const neck = y >= h * 0.2 && y < h * 0.42 && Math.abs(x - cx) < w * 0.06;
    return body || neck ? hsl(hue, 0.5, 0.3 + (0.3 * (x - cx + w * 0.16)) / (w * 0.32)) : undefined;
  };
  return (x, y) => {
    const drawn = object(x, y);
    if (drawn !== undefined) return drawn;
    if (((x - cx) / (w * 0.3)) ** 2 + ((y - h * 0.82) / (h * 0.05)) ** 2 < 1) return shadow;
    return mix(top, bottom, y / h);
  };
}

/** Diagonal stripes with a ring: an inline illustration. */
function pattern(w: number, h: number, hue: number): Painter {
  const a = hsl(hue, 0.6, 0.55);
  const b = hsl(hue + 40, 0.6, 0.68);
  const ring = hsl(hue + 180, 0.6, 0.45);
  return (x, y) => {
    const d = Math.hypot(x - w / 2, y - h / 2);
    if (d > h * 0.22 && d < h * 0.32) return ring;
    return Math.floor((x + y) / 14) % 2 === 0 ? a : b;
  };
}

/**
 * A PNG of the given kind. The variant picks colours (hues a golden angle
 * apart, so neighbours differ) and, for products, the shape.
 */
export function demoPng(kind: PictureKind, variant: number, width: number, height: number): Buffer {
  const hue = (variant * 137.508) % 360;
  const painters: Record<PictureKind, () => Painter> = {
    landscape: () => landscape(width, height, hue),
    avatar: () => avatar(width, height, hue),
    product: () => product(width, height, hue, variant % 3),
    pattern: () => pattern(width, height, hue),
  };
  return encodePng(width, height, painters[kind]());
}
