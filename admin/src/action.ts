import { createSignal } from "solid-js";
import { errorMessage } from "./errors";

/**
 * One admin action at a time: busy while a call runs (buttons disable), the
 * error of the last call to show, and run() resolving with the call's result,
 * or undefined when it failed.
 */
export function createAction() {
  const [busy, setBusy] = createSignal(false);
  const [error, setError] = createSignal("");
  async function run<T>(call: () => Promise<T>): Promise<T | undefined> {
    setBusy(true);
    setError("");
    try {
      return await call();
    } catch (err) {
      setError(errorMessage(err));
      return undefined;
    } finally {
      setBusy(false);
    }
  }
  return { busy, error, run };
}
