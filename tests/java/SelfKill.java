// JVM scenario for the Java agent: "exit" (default) calls System.exit(4) two seconds after
// start; "wait" sleeps until a signal ends it; "return" lets main return after two seconds.
public class SelfKill {
    public static void main(String[] args) throws InterruptedException {
        String mode = args.length > 0 ? args[0] : "exit";
        if (mode.equals("wait")) { while (true) Thread.sleep(60_000); }
        Thread.sleep(2000);
        if (mode.equals("exit")) System.exit(4);
    }
}
