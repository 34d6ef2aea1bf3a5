// deathwatch's Java agent: names the thread that began the JVM's shutdown.
//
// deathwatch loads it into a running HotSpot JVM through the attach mechanism (jvm_agent.h);
// agentmain's argument is the absolute path of the report file. The agent registers one
// shutdown hook. While hooks run, the thread that began the shutdown is still inside
// java.lang.Shutdown (exit for System.exit, Runtime.exit and the SIGTERM/SIGINT/SIGHUP
// handlers, shutdown when the last non-daemon thread ended), waiting for the hooks: the
// hook finds it by its stack and writes a line-based report:
//
//   deathwatch-agent\t1
//   thread\t<name>
//   kind\t<exit|signal|main-returned|unknown>
//   frame\t<Class.method(File.java:line)>      one per frame, innermost first
//
// Rules: the agent prints nothing, throws nothing (a Throwable escaping agentmain would be
// printed on the JVM's stderr by the instrument library), and the hook stays fast. Runtime.halt
// runs no hooks, so a halt leaves no report. Compiled for Java 8 (no lambdas: a plain
// Runnable avoids bootstrapping invokedynamic inside someone else's JVM).
package deathwatch;

import java.io.File;
import java.io.FileOutputStream;
import java.lang.instrument.Instrumentation;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

public final class DeathwatchAgent implements Runnable {
    private static final Object LOCK = new Object();
    private static final List<String> REPORT_PATHS = new ArrayList<String>();
    private static boolean registered = false;
    private static final int MAX_FRAMES = 256;

    public static void agentmain(String args, Instrumentation inst) {
        install(args);
    }

    public static void premain(String args, Instrumentation inst) {
        install(args);
    }

    // A second load (another deathwatch, or a retry) adds its report path to the same hook.
    private static void install(String reportPath) {
        try {
            if (reportPath == null || reportPath.length() == 0) return;
            boolean shuttingDown = false;
            synchronized (LOCK) {
                if (!REPORT_PATHS.contains(reportPath)) REPORT_PATHS.add(reportPath);
                if (registered) return;
                Thread hook = new Thread(new DeathwatchAgent(), "deathwatch last words");
                try {
                    Runtime.getRuntime().addShutdownHook(hook);
                    registered = true;
                } catch (IllegalStateException alreadyShuttingDown) {
                    // Loaded while the hooks already run (a slow start, an early exit): the
                    // thread that began the shutdown is inside it now, waiting for them.
                    shuttingDown = true;
                }
            }
            if (shuttingDown) new DeathwatchAgent().run();
        } catch (Throwable ignored) {
            // A SecurityManager's refusal, ...: no report.
        }
    }

    @Override
    public void run() {
        try {
            String report = describeShutdown();
            List<String> paths;
            synchronized (LOCK) {
                paths = new ArrayList<String>(REPORT_PATHS);
            }
            byte[] bytes = report.getBytes("UTF-8");
            for (String path : paths) write(path, bytes);
        } catch (Throwable ignored) {
            // Nothing may reach the JVM's output, and the exit must go on.
        }
    }

    // Writes beside the target and renames, so a reader sees the whole report or none.
    private static void write(String path, byte[] bytes) {
        try {
            File target = new File(path);
            File partial = new File(path + ".partial");
            FileOutputStream out = new FileOutputStream(partial);
            try {
                out.write(bytes);
            } finally {
                out.close();
            }
            if (!partial.renameTo(target)) partial.delete();
        } catch (Throwable ignored) {
        }
    }

    private static String describeShutdown() {
        Thread self = Thread.currentThread();
        Map<Thread, StackTraceElement[]> all = Thread.getAllStackTraces();
        Thread culprit = null;
        StackTraceElement[] stack = null;
        for (Map.Entry<Thread, StackTraceElement[]> e : all.entrySet()) {
            if (e.getKey() == self || e.getValue() == null) continue;
            if (beganShutdown(e.getValue())) {
                culprit = e.getKey();
                stack = e.getValue();
                break;
            }
        }
        StringBuilder out = new StringBuilder(4096);
        out.append("deathwatch-agent\t1\n");
        if (culprit == null) {
            out.append("kind\tunknown\n");
            return out.toString();
        }
        String name = culprit.getName();
        out.append("thread\t").append(clean(name)).append('\n');
        out.append("kind\t").append(kind(name, stack)).append('\n');
        int n = Math.min(stack.length, MAX_FRAMES);
        for (int i = 0; i < n; i++) out.append("frame\t").append(frame(stack[i])).append('\n');
        return out.toString();
    }

    private static boolean isShutdownEntry(StackTraceElement f) {
        String c = f.getClassName();
        String m = f.getMethodName();
        return ("java.lang.Shutdown".equals(c) && ("exit".equals(m) || "shutdown".equals(m)))
            || ("java.lang.Runtime".equals(c) && "exit".equals(m));
    }

    private static boolean beganShutdown(StackTraceElement[] stack) {
        for (StackTraceElement f : stack) if (isShutdownEntry(f)) return true;
        return false;
    }

    private static String kind(String threadName, StackTraceElement[] stack) {
        boolean exit = false;
        boolean shutdown = false;
        boolean signal = threadName != null && threadName.startsWith("SIG") && threadName.endsWith(" handler");
        for (StackTraceElement f : stack) {
            String c = f.getClassName();
            if ("java.lang.Terminator$1".equals(c) || "jdk.internal.misc.Signal".equals(c)
                || "sun.misc.Signal".equals(c)) signal = true;
            if ("java.lang.Shutdown".equals(c) && "shutdown".equals(f.getMethodName())) shutdown = true;
            if (isShutdownEntry(f) && !"shutdown".equals(f.getMethodName())) exit = true;
        }
        if (exit && signal) return "signal";
        if (exit) return "exit";
        if (shutdown) return "main-returned";
        return "unknown";
    }

    // StackTraceElement.toString adds "app//" and module prefixes on JDK 9+: build it here.
    private static String frame(StackTraceElement f) {
        StringBuilder s = new StringBuilder();
        s.append(clean(f.getClassName())).append('.').append(clean(f.getMethodName())).append('(');
        String file = f.getFileName();
        if (f.isNativeMethod()) {
            s.append("Native Method");
        } else if (file == null) {
            s.append("Unknown Source");
        } else {
            s.append(clean(file));
            if (f.getLineNumber() >= 0) s.append(':').append(f.getLineNumber());
        }
        return s.append(')').toString();
    }

    private static String clean(String text) {
        if (text == null) return "";
        StringBuilder s = new StringBuilder(text.length());
        for (int i = 0; i < text.length(); i++) {
            char ch = text.charAt(i);
            s.append(ch < 0x20 || ch == 0x7f || ch == '\u2028' || ch == '\u2029' ? '?' : ch);
        }
        return s.toString();
    }
}
