// SelfKill: a JVM with a shutdown hook, to watch under deathwatch.
//   java SelfKill exit   (default) sleep 2 s, then System.exit(4)
//   java SelfKill wait   sleep forever, so that something else can kill it
public class SelfKill {
    public static void main(String[] args) throws InterruptedException {
        String mode = args.length > 0 ? args[0] : "exit";
        if (!mode.equals("exit") && !mode.equals("wait")) {
            System.err.println("usage: java SelfKill [exit|wait]");
            System.exit(2);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() ->
            System.out.println("shutdown hook: releasing resources")));
        System.out.println("SelfKill (" + mode + ") running, pid " + ProcessHandle.current().pid());
        while (true) {
            Thread.sleep(2000);
            if (mode.equals("exit")) System.exit(4);
        }
    }
}
