/*
 * TradeStream's replacement for Beam 2.62's class of the same name (written here; Beam's
 * is Apache-2.0 as well). It sits ahead of beam-runners-java-fn-execution on the job
 * server's class path (tradestream/runtime/jvm.py, docker/job-server.Dockerfile).
 *
 * Why: Beam 2.62 keeps each residual of a splittable DoFn (what a read call defers) in a
 * value state named after a fresh id, and fires it with a timer of that name. On Flink
 * every new state name registers a new state table that is never dropped, so a streaming
 * source that defers ~10 times a second grows the job server's heap by ~23 MB a minute
 * (apache/beam#27648; fixed upstream after the releases we can reach).
 *
 * Here a residual takes the first free slot of its key and window: `sdf_checkpoint:s<n>:`
 * (n = 0, 1, ...), free when no timer of that name is pending. A source with one
 * restriction per key then uses two names for ever, whatever it defers. Whether a timer is
 * pending is read from the Flink operator's own record of its timers (by reflection: the
 * fields are not public); where that record cannot be read (another runner, another Beam
 * version), every residual gets a new name as in Beam.
 *
 * Also: the residual's watermark hold keeps its milliseconds (Beam's drops them, holding a
 * source's output watermark back to whole seconds).
 */
package org.apache.beam.runners.fnexecution.control;

import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Lock;
import org.apache.beam.model.fnexecution.v1.BeamFnApi.DelayedBundleApplication;
import org.apache.beam.model.fnexecution.v1.BeamFnApi.ProcessBundleResponse;
import org.apache.beam.runners.core.StateInternals;
import org.apache.beam.runners.core.StateInternalsFactory;
import org.apache.beam.runners.core.StateNamespace;
import org.apache.beam.runners.core.StateNamespaces;
import org.apache.beam.runners.core.StateTags;
import org.apache.beam.runners.core.TimerInternals;
import org.apache.beam.runners.core.TimerInternals.TimerData;
import org.apache.beam.runners.core.TimerInternalsFactory;
import org.apache.beam.sdk.coders.Coder;
import org.apache.beam.sdk.state.TimeDomain;
import org.apache.beam.sdk.transforms.windowing.BoundedWindow;
import org.apache.beam.sdk.util.CoderUtils;
import org.apache.beam.sdk.util.WindowedValue;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.runtime.state.KeyedStateBackend;
import org.joda.time.Duration;
import org.joda.time.Instant;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

@SuppressWarnings({"rawtypes", "unchecked"})
public class BundleCheckpointHandlers {

  private static final Logger LOG = LoggerFactory.getLogger(BundleCheckpointHandlers.class);

  /** Residuals as state, rescheduled by processing-time timers of the same name. */
  public static class StateAndTimerBundleCheckpointHandler<T> implements BundleCheckpointHandler {

    public static final String SDF_PREFIX = "sdf_checkpoint";
    private static final String SLOT_PREFIX = SDF_PREFIX + ":s";

    private final TimerInternalsFactory<T> timerInternalsFactory;
    private final StateInternalsFactory<T> stateInternalsFactory;
    private final Coder<WindowedValue<T>> residualCoder;
    private final Coder windowCoder;
    private final AtomicLong fresh = new AtomicLong();

    public StateAndTimerBundleCheckpointHandler(
        TimerInternalsFactory<T> timerInternalsFactory,
        StateInternalsFactory<T> stateInternalsFactory,
        Coder<WindowedValue<T>> residualCoder,
        Coder windowCoder) {
      this.timerInternalsFactory = timerInternalsFactory;
      this.stateInternalsFactory = stateInternalsFactory;
      this.residualCoder = residualCoder;
      this.windowCoder = windowCoder;
    }

    /** Whether `timerId` names a residual's timer (the operators fire those themselves). */
    public static boolean isSdfTimer(String timerId) {
      return timerId.startsWith(SDF_PREFIX);
    }

    @Override
    public void onCheckpoint(ProcessBundleResponse response) {
      // Names given in this response, not yet pending while it is handled.
      Set<String> given = new HashSet<>();
      for (DelayedBundleApplication residual : response.getResidualRootsList()) {
        if (residual.hasApplication()) {
          reschedule(residual, given);
        }
      }
    }

    private void reschedule(DelayedBundleApplication residual, Set<String> given) {
      WindowedValue<T> value;
      try {
        value =
            CoderUtils.decodeFromByteArray(
                residualCoder, residual.getApplication().getElement().toByteArray());
      } catch (Exception e) {
        throw new RuntimeException("Failed to decode a residual of a splittable DoFn", e);
      }
      TimerInternals timers = timerInternalsFactory.timerInternalsForKey(value.getValue());
      StateInternals states = stateInternalsFactory.stateInternalsForKey(value.getValue());
      Instant fireAt = Instant.now();
      if (residual.hasRequestedTimeDelay()) {
        org.apache.beam.vendor.grpc.v1p60p1.com.google.protobuf.Duration delay = residual.getRequestedTimeDelay();
        fireAt = fireAt.plus(Duration.millis(delay.getSeconds() * 1000 + delay.getNanos() / 1_000_000));
      }
      Instant hold = holdOf(residual);
      for (BoundedWindow window : value.getWindows()) {
        StateNamespace namespace = StateNamespaces.window(windowCoder, window);
        String name = freeName(timers, namespace, given);
        given.add(name);
        timers.setTimer(namespace, name, "", fireAt, hold, TimeDomain.PROCESSING_TIME);
        states
            .state(namespace, StateTags.value(name, residualCoder))
            .write(WindowedValue.of(value.getValue(), value.getTimestamp(), window, value.getPane()));
      }
    }

    /** The earliest output watermark the residual reports (in milliseconds), else the min. */
    private static Instant holdOf(DelayedBundleApplication residual) {
      if (residual.getApplication().getOutputWatermarksMap().isEmpty()) {
        return BoundedWindow.TIMESTAMP_MIN_VALUE;
      }
      long hold = BoundedWindow.TIMESTAMP_MAX_VALUE.getMillis();
      for (org.apache.beam.vendor.grpc.v1p60p1.com.google.protobuf.Timestamp mark :
          residual.getApplication().getOutputWatermarksMap().values()) {
        hold = Math.min(hold, mark.getSeconds() * 1000 + mark.getNanos() / 1_000_000);
      }
      return Instant.ofEpochMilli(hold);
    }

    /** The first slot name without a pending timer in `namespace`, or a fresh name. */
    private String freeName(TimerInternals timers, StateNamespace namespace, Set<String> given) {
      Set<String> pending = PendingTimers.of(timers, namespace);
      if (pending == null) {
        return SDF_PREFIX + ":" + fresh.incrementAndGet() + ":0";
      }
      for (int slot = 0; ; slot++) {
        String name = SLOT_PREFIX + slot + ":";
        if (!pending.contains(name) && !given.contains(name)) {
          return name;
        }
      }
    }
  }

  /**
   * The names of the residual timers pending for a key, read from the Flink operator behind
   * Beam's `ExecutableStageDoFnOperator.SdfFlinkTimerInternals`. Null when they cannot be
   * read (then the caller never reuses a name).
   */
  static final class PendingTimers {

    private static volatile boolean warned;

    private PendingTimers() {}

    static Set<String> of(TimerInternals timers, StateNamespace namespace) {
      if (!timers.getClass().getName().endsWith("$SdfFlinkTimerInternals")) {
        return null; // a batch job's in-memory timers: finite, as in Beam
      }
      try {
        Object operator = read(timers, "this$0");
        ByteBuffer key = (ByteBuffer) read(timers, "key");
        Object flinkTimers = read(operator, "timerInternals");
        MapState<String, TimerData> byId =
            (MapState<String, TimerData>) read(flinkTimers, "pendingTimersById");
        Lock lock = (Lock) read(operator, "stateBackendLock");
        KeyedStateBackend backend =
            (KeyedStateBackend) operator.getClass().getMethod("getKeyedStateBackend").invoke(operator);
        Set<String> names = new HashSet<>();
        lock.lock();
        try {
          backend.setCurrentKey(key);
          for (TimerData timer : byId.values()) {
            if (timer.getTimerId().startsWith(StateAndTimerBundleCheckpointHandler.SDF_PREFIX)
                && timer.getNamespace().stringKey().equals(namespace.stringKey())) {
              names.add(timer.getTimerId());
            }
          }
        } finally {
          lock.unlock();
        }
        return names;
      } catch (Exception | LinkageError e) {
        if (!warned) {
          warned = true;
          LOG.warn(
              "TradeStream: cannot read the pending timers of {} ({}); residuals of splittable "
                  + "DoFns get a new state name each, as in Beam",
              timers.getClass().getName(),
              e.toString());
        }
        return null;
      }
    }

    /** The named field of `target`, declared by its class or a superclass. */
    private static Object read(Object target, String name) throws ReflectiveOperationException {
      for (Class<?> c = target.getClass(); c != null; c = c.getSuperclass()) {
        try {
          Field field = c.getDeclaredField(name);
          field.setAccessible(true);
          return field.get(target);
        } catch (NoSuchFieldException e) {
          // declared further up
        }
      }
      throw new NoSuchFieldException(target.getClass().getName() + "." + name);
    }
  }
}
