// What every part of the demo seed shares: where the demo data lives (the disk
// store and the key prefix that --reset removes), who acts as the admin, time
// units, and the progress printer.

export const STORE = "default";
export const PREFIX = "demo/";
/** Who places the holds in the demo (the API records the caller; there is no authentication yet). */
export const ADMIN = "admin";

export const MINUTE = 60;
export const HOUR = 3600;
export const DAY = 86_400;

export const say = (line: string) => process.stdout.write(`${line}\n`);
