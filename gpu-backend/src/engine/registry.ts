// The models this server serves, by id. Loading, replacing and unloading happen without a restart:
// a replacement is loaded beside the old model and swapped in only once it is ready, so new requests
// go to the new model while requests already admitted finish on the old one, which is then freed.
import type { Llama } from "node-llama-cpp";
import { LoadedModel, type ModelDefaults, type ModelSpec } from "./loaded-model.ts";

export class ModelRegistry {
  private readonly models = new Map<string, LoadedModel>();
  private readonly retiring = new Set<LoadedModel>();
  /** Loads of one id run one after another, so two concurrent replaces cannot interleave. */
  private readonly loading = new Map<string, Promise<unknown>>();

  readonly llama: Llama;
  readonly defaults: ModelDefaults;
  constructor(llama: Llama, defaults: ModelDefaults) {
    this.llama = llama;
    this.defaults = defaults;
  }

  get(id: string): LoadedModel | undefined { return this.models.get(id); }
  list(): LoadedModel[] { return [...this.models.values()]; }
  /** Loaded and retiring models: the retiring ones still hold slots and queued requests. */
  all(): LoadedModel[] { return [...this.models.values(), ...this.retiring]; }

  /**
   * Requests waiting, for generation slots and for embedding contexts alike: the load a router
   * reads (x-queue-depth, vllm:num_requests_waiting). Embeddings queue apart from the slots but
   * wait on this replica all the same.
   */
  get queueDepth(): number { return this.all().reduce((n, m) => n + m.pool.waiting + m.embeddingLoad.waiting, 0); }
  /** Requests generating on a slot or embedding (vllm:num_requests_running). */
  get running(): number { return this.all().reduce((n, m) => n + m.pool.running + m.embeddingLoad.running, 0); }

  /** Loads `spec.id`, replacing any model already under that id. Returns whether it replaced one. */
  load(spec: ModelSpec): Promise<{ model: LoadedModel; replaced: boolean }> {
    return this.serially(spec.id, async () => {
      const model = await LoadedModel.load(this.llama, spec, this.defaults);
      const old = this.models.get(spec.id);
      this.models.set(spec.id, model);
      if (old) this.retire(old);
      return { model, replaced: old !== undefined };
    });
  }

  unload(id: string): Promise<boolean> {
    return this.serially(id, async () => {
      const old = this.models.get(id);
      if (!old) return false;
      this.models.delete(id);
      this.retire(old);
      return true;
    });
  }

  async close(): Promise<void> {
    const all = this.all();
    this.models.clear();
    await Promise.all(all.map((m) => m.retire()));
  }

  private retire(model: LoadedModel) {
    this.retiring.add(model);
    void model.retire().finally(() => this.retiring.delete(model));
  }

  private serially<T>(id: string, task: () => Promise<T>): Promise<T> {
    const previous = this.loading.get(id) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(task);
    this.loading.set(id, next);
    void next.finally(() => { if (this.loading.get(id) === next) this.loading.delete(id); }).catch(() => undefined);
    return next;
  }
}
