// Calls System.exit(5) at once, before any agent can attach, while its own shutdown hook
// keeps the JVM in its shutdown for three seconds: an agent loaded then finds the hooks
// already running (test_jvm_late_agent.py).
public class ExitDuringHooks {
    public static void main(String[] args) {
        Runtime.getRuntime().addShutdownHook(new Thread(new Runnable() {
            public void run() {
                try {
                    Thread.sleep(3000);
                } catch (InterruptedException e) {
                }
            }
        }));
        System.exit(5);
    }
}
