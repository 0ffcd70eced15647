package motoserver_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cfgate/cfgate/internal/testutil/motoserver"
	"github.com/cfgate/cfgate/internal/testutil/needs"
)

func TestMain(m *testing.M) { os.Exit(needs.Main(m)) }

func TestSharedServerAnswers(t *testing.T) {
	s := motoserver.Shared(t)
	client := secretsmanager.NewFromConfig(s.Config(t))
	name := motoserver.Unique(t, "secret")
	if _, err := client.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: &name, SecretString: new("v1"),
	}); err != nil {
		t.Fatalf("CreateSecret: %v", err)
	}
	out, err := client.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: &name})
	if err != nil {
		t.Fatalf("GetSecretValue: %v", err)
	}
	if got, want := *out.SecretString, "v1"; got != want {
		t.Errorf("secret = %q, want %q", got, want)
	}
}

// TestDynamoDBConditionalWritesAreAtomic checks the launcher's one promise:
// of many conditional writes racing on one item, exactly as many succeed as
// DynamoDB would allow. Plain moto_server lets several "create if absent"
// puts, and several "bump if equal" updates, succeed at once.
func TestDynamoDBConditionalWritesAreAtomic(t *testing.T) {
	ctx := context.Background()
	db := dynamodb.NewFromConfig(motoserver.Shared(t).Config(t))
	table := motoserver.Unique(t, "atomic")
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
	}); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	const writers = 25
	race := func(write func(i int) error) (won int) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		start := make(chan struct{})
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				err := write(i)
				var failed *ddbtypes.ConditionalCheckFailedException
				switch {
				case err == nil:
					mu.Lock()
					won++
					mu.Unlock()
				case errors.As(err, &failed):
				default:
					t.Errorf("writer %d: %v", i, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		return won
	}
	for round := range 20 {
		pk := "item-" + strconv.Itoa(round)
		won := race(func(i int) error {
			_, err := db.PutItem(ctx, &dynamodb.PutItemInput{
				TableName:           aws.String(table),
				Item:                map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: pk}, "n": &ddbtypes.AttributeValueMemberN{Value: "0"}},
				ConditionExpression: aws.String("attribute_not_exists(pk)"),
			})
			return err
		})
		if won != 1 {
			t.Errorf("round %d: %d of %d create-if-absent puts succeeded, want exactly 1", round, won, writers)
		}
		var mu sync.Mutex
		seen := map[string]bool{}
		won = race(func(i int) error {
			out, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName:                 aws.String(table),
				Key:                       map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: pk}},
				UpdateExpression:          aws.String("ADD n :one"),
				ConditionExpression:       aws.String("attribute_exists(pk)"),
				ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":one": &ddbtypes.AttributeValueMemberN{Value: "1"}},
				ReturnValues:              ddbtypes.ReturnValueUpdatedNew,
			})
			if err == nil {
				mu.Lock()
				seen[out.Attributes["n"].(*ddbtypes.AttributeValueMemberN).Value] = true
				mu.Unlock()
			}
			return err
		})
		for n := 1; n <= writers; n++ {
			if !seen[strconv.Itoa(n)] {
				t.Errorf("round %d: %d concurrent ADDs (%d succeeded) never returned %d: counts were lost or repeated", round, writers, won, n)
				break
			}
		}
	}
}
